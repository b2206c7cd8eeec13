"""Text-armoured bids: PEM (`-----BEGIN PKCS7-----`) and S/MIME (`openssl cms -encrypt` default output).

`open_bid` sniffs the first bytes and returns a binary stream of the DER/BER: the file itself, or
a streaming base64 decoder over it (memory stays one chunk, whatever the size).
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import BinaryIO, cast

from sceau.errors import InvalidInput
from sceau.i18n import _

CHUNK = 1 << 20
MAX_HEADER = 64 * 1024
_WS = b" \t\r\n"


def _bad() -> InvalidInput:
    return InvalidInput(_("The file is not valid PEM or S/MIME (base64) text."))


class Base64Reader(io.RawIOBase):
    """Decodes a base64 body on the fly, stopping at a PEM `-----END` line or at EOF."""

    def __init__(self, raw: BinaryIO, initial: bytes = b"") -> None:
        self._raw = raw
        self._out = b""
        self._pos = 0
        self._eof = False
        self._text = self._clean(initial)  # undecoded text carried over (partial quartet or first chunk)

    def _clean(self, chunk: bytes) -> bytes:
        end = chunk.find(b"-----END")
        if end >= 0:
            chunk = chunk[:end]
            self._eof = True
        return chunk.translate(None, _WS)

    def readable(self) -> bool:
        return True

    def _refill(self) -> None:
        while self._pos >= len(self._out) and not (self._eof and not self._text):
            if not self._eof:
                chunk = self._raw.read(CHUNK)
                if chunk and not chunk.endswith(b"\n"):  # whole lines: an END marker is never split
                    chunk += self._raw.readline(4096)
                if not chunk:
                    self._eof = True
                else:
                    self._text += self._clean(chunk)
            usable = len(self._text) // 4 * 4 if not self._eof else len(self._text)
            data, self._text = self._text[:usable], self._text[usable:]
            try:
                self._out = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise _bad() from None
            self._pos = 0

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self._refill()
        n = min(len(buffer), len(self._out) - self._pos)
        buffer[:n] = self._out[self._pos : self._pos + n]
        self._pos += n
        return n


def open_bid(raw: BinaryIO) -> tuple[BinaryIO, bool]:
    """(binary stream of the CMS encoding, whether it was text-armoured). `raw` must be at its start."""
    head = raw.read(MAX_HEADER)
    if head[:1] != b"\x30" and not head.endswith(b"\n"):
        head += raw.readline(4096)
    if head[:1] == b"\x30":
        raw.seek(0)
        return raw, False
    text = head.lstrip()
    if text.startswith(b"-----BEGIN"):
        line_end = text.find(b"\n")
        if line_end < 0:
            raise _bad()
        return cast(BinaryIO, Base64Reader(raw, text[line_end + 1 :])), True
    lower = text[:4096].lower()
    if lower.startswith((b"mime-version:", b"content-")) and b"base64" in lower:
        for sep in (b"\r\n\r\n", b"\n\n"):
            end = text.find(sep)
            if end >= 0:
                return cast(BinaryIO, Base64Reader(raw, text[end + len(sep) :])), True
    raise InvalidInput(_("The file is not an encrypted CMS file (PKCS#7 EnvelopedData)."))
