"""Length-prefixed JSON frames, as browsers use for native messaging (sans-I/O).

A frame is a 4-byte unsigned length in little-endian order (the byte order of every platform
browsers run on; Chrome documents "native byte order") followed by UTF-8 JSON.
The same framing is used between the native host and the agent, so the host only relays.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from sceau.errors import BadRequest, TooLarge

HEADER = struct.Struct("<I")
HEADER_SIZE = HEADER.size


def encode_frame(message: dict[str, Any]) -> bytes:
    """Serialise one message as a frame (compact JSON, UTF-8)."""
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return HEADER.pack(len(body)) + body


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


class FrameDecoder:
    """Feed bytes, get complete frame bodies. Rejects a declared length above `max_size` at once,
    before buffering it (a hostile or broken peer cannot make us allocate gigabytes)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._need: int | None = None

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            if self._need is None:
                if len(self._buf) < HEADER_SIZE:
                    break
                (length,) = HEADER.unpack_from(self._buf)
                if length > self.max_size:
                    raise TooLarge(
                        "Frame of {length} bytes exceeds the limit of {limit} bytes.",
                        params={"length": length, "limit": self.max_size},
                    )
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
        return len(self._buf) + (HEADER_SIZE if self._need else 0)
