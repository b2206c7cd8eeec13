"""Length-prefixed JSON frames, as browsers use for native messaging (sans-I/O).

A frame is a 4-byte unsigned length in little-endian order (the byte order of every platform
browsers run on; Chrome documents "native byte order") followed by UTF-8 JSON.
The same framing is used between the native host and the agent, so the host only relays.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from typing import Any

from sceau.errors import BadRequest, TooLarge

HEADER = struct.Struct("<I")
HEADER_SIZE = HEADER.size
OVERSIZED_PREFIX = 512  # bytes of a refused frame kept to name its request in the refusal
_ID_RE = re.compile(rb'"id"\s*:\s*"([^"\\]{1,128})"')


def encode_json(message: dict[str, Any]) -> bytes:
    """One message as a frame body: compact JSON, UTF-8."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_frame(message: dict[str, Any]) -> bytes:
    """Serialise one message as a frame."""
    return encode_body(encode_json(message))


def encode_body(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


def decode_json(body: bytes) -> dict[str, Any]:
    """Parse a frame body; anything but a JSON object is a bad request."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadRequest("Message is not valid JSON.", params={}) from None
    if not isinstance(value, dict):
        raise BadRequest("Message must be a JSON object.", params={})
    return value


@dataclass(frozen=True)
class Oversized:
    """A frame refused for its declared length; `prefix` is its body's beginning (to name it)."""

    length: int
    prefix: bytes

    @property
    def request_id(self) -> str | None:
        return recover_id(self.prefix)


def recover_id(prefix: bytes) -> str | None:
    """Best-effort id of a refused oversized request (the extension writes `id` first)."""
    m = _ID_RE.search(prefix)
    return m.group(1).decode("utf-8", "replace") if m else None


class FrameDecoder:
    """Feed bytes, get complete frame bodies. A declared length above `max_size` is refused at once,
    before buffering it (a hostile or broken peer cannot make us allocate gigabytes): TooLarge, or
    with `skip_oversized` (the browser's side, which must go on) an `Oversized` item in place of the
    body, whose bytes are then read past without being kept."""

    def __init__(self, max_size: int, *, skip_oversized: bool = False) -> None:
        self.max_size = max_size
        self.skip_oversized = skip_oversized
        self._buf = bytearray()
        self._need: int | None = None
        self._skip = 0  # bytes of a refused body still to drop
        self._refused: tuple[int, bytearray] | None = None  # (length, prefix kept so far)

    def feed(self, data: bytes) -> list[bytes]:
        """Complete bodies (a skipping decoder's callers use `feed_items`, which also names refusals)."""
        return [b for b in self.feed_items(data) if not isinstance(b, Oversized)]

    def feed_items(self, data: bytes) -> list[bytes | Oversized]:
        self._buf += data
        out: list[bytes | Oversized] = []
        while True:
            if self._refused is not None:
                length, prefix = self._refused
                prefix += self._buf[: max(0, min(OVERSIZED_PREFIX - len(prefix), self._skip))]
                drop = min(self._skip, len(self._buf))
                del self._buf[:drop]
                self._skip -= drop
                if self._skip:
                    break
                self._refused = None
                out.append(Oversized(length, bytes(prefix)))
                continue
            if self._need is None:
                if len(self._buf) < HEADER_SIZE:
                    break
                (length,) = HEADER.unpack_from(self._buf)
                if length > self.max_size:
                    if not self.skip_oversized:
                        raise TooLarge(
                            "Frame of {length} bytes exceeds the limit of {limit} bytes.",
                            params={"length": length, "limit": self.max_size},
                        )
                    del self._buf[:HEADER_SIZE]
                    self._refused, self._skip = (length, bytearray()), length
                    continue
                del self._buf[:HEADER_SIZE]
                self._need = length
            if len(self._buf) < self._need:
                break
            out.append(bytes(self._buf[: self._need]))
            del self._buf[: self._need]
            self._need = None
        return out

    @property
    def pending(self) -> int:
        """Bytes buffered for an incomplete frame (non-zero at EOF means a truncated frame)."""
        return len(self._buf) + (HEADER_SIZE if self._need else 0) + self._skip


def chunk_frames(body: bytes, rid: str | None, limit: int) -> list[bytes]:
    """One frame if `body` fits `limit` (the browser's cap on a message it receives), else numbered
    chunk frames `{"v":1,"id":…,"chunk":{"index","count","data"}}` carrying slices of the JSON text."""
    if len(body) <= limit:
        return [encode_body(body)]
    text = body.decode("utf-8")
    overhead = len(encode_frame({"v": 1, "id": rid, "chunk": {"index": 10**9, "count": 10**9, "data": ""}}))
    budget = limit - overhead
    slices: list[str] = []
    pos = 0
    while pos < len(text):
        size = budget // 4  # worst case: every char escapes to 2 bytes or is 4 bytes of UTF-8
        # Grow while the escaped slice still fits (base64 payloads are 1 byte per char).
        while pos + size < len(text):
            grown = min(len(text) - pos, size * 2)
            if _escaped_len(text[pos : pos + grown]) > budget:
                break
            size = grown
        while size > 1 and _escaped_len(text[pos : pos + size]) > budget:
            size = size * 3 // 4
        slices.append(text[pos : pos + size])
        pos += size
    count = len(slices)
    return [
        encode_frame({"v": 1, "id": rid, "chunk": {"index": i, "count": count, "data": s}})
        for i, s in enumerate(slices)
    ]


def _escaped_len(s: str) -> int:
    return len(json.dumps(s, ensure_ascii=False).encode("utf-8"))
