"""A streaming BER/DER reader: headers, small elements and large OCTET STRING content.

The reader pulls from a binary stream through one fixed buffer (1 MiB by default), so memory
does not depend on the size of what it reads. It understands definite and indefinite lengths
and constructed (chunked, nested) OCTET STRINGs, which is all CMS streaming needs; small
sub-structures are captured raw (`read_element`, with a size cap) and decoded with asn1crypto.

Hostile input is bounded: at most 8 length octets, lengths checked against the enclosing
element and the stream size, nesting depth capped, EOF mid-element is "truncated". Every
problem raises `BerError` (an `InvalidInput`), never another exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from sceau.errors import InvalidInput
from sceau.i18n import _

BUFFER_SIZE = 1 << 20
MAX_DEPTH = 64
MAX_LENGTH_OCTETS = 8
MAX_TAG_OCTETS = 4

UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3
TAG_OCTET_STRING = 4
TAG_SEQUENCE = 16
EOC = b"\x00\x00"


class BerError(InvalidInput):
    """Malformed or truncated BER."""


def _truncated() -> BerError:
    return BerError(_("The file is truncated or damaged."))


def _malformed() -> BerError:
    return BerError(_("The file is not a valid CMS structure (malformed BER)."))


@dataclass(frozen=True, slots=True)
class Header:
    """One identifier + length, as read at `offset`."""

    tag_class: int
    constructed: bool
    tag: int
    length: int | None  # None: indefinite length
    offset: int
    raw: bytes  # the header octets themselves

    @property
    def content_start(self) -> int:
        return self.offset + len(self.raw)

    @property
    def end(self) -> int | None:
        """Offset just past the content (definite lengths only)."""
        return None if self.length is None else self.content_start + self.length

    def is_(self, tag_class: int, tag: int, constructed: bool | None = None) -> bool:
        if constructed is not None and self.constructed != constructed:
            return False
        return self.tag_class == tag_class and self.tag == tag


class BerReader:
    """Pull-parser over a binary stream. `size` (when known) bounds every declared length."""

    def __init__(self, stream: BinaryIO, *, size: int | None = None, buffer_size: int = BUFFER_SIZE) -> None:
        self._stream = stream
        self._buf = bytearray(buffer_size)
        self._view = memoryview(self._buf)
        self._start = 0  # first unread byte in the buffer
        self._end = 0  # end of valid data in the buffer
        self._consumed = 0  # stream offset of _buf[0]
        self._eof = False
        self.size = size

    @property
    def position(self) -> int:
        """Offset of the next unread byte in the stream."""
        return self._consumed + self._start

    def _available(self) -> int:
        return self._end - self._start

    def _fill(self, n: int) -> bool:
        """Make at least `n` (≤ buffer size) bytes available; False at EOF before that."""
        while self._available() < n:
            if self._eof:
                return False
            if self._start:
                rem = self._available()
                self._buf[:rem] = self._buf[self._start : self._end]
                self._consumed += self._start
                self._start, self._end = 0, rem
            got = self._stream.readinto(self._view[self._end :])  # type: ignore[attr-defined]
            if not got:
                self._eof = True
            else:
                self._end += got
        return True

    def at_eof(self) -> bool:
        return not self._fill(1)

    def peek(self, n: int) -> bytes:
        """Up to `n` next bytes without consuming them (fewer at EOF)."""
        self._fill(n)
        return bytes(self._buf[self._start : self._start + min(n, self._available())])

    def _take(self, n: int) -> bytes:
        if not self._fill(n):
            raise _truncated()
        out = bytes(self._buf[self._start : self._start + n])
        self._start += n
        return out

    def read_header(self, limit: int | None = None) -> Header:
        """Read one identifier and length. `limit`: end offset of the enclosing element."""
        offset = self.position
        first = self._take(1)[0]
        raw = bytearray([first])
        tag = first & 0x1F
        if tag == 0x1F:  # high tag number form
            tag = 0
            for i in range(MAX_TAG_OCTETS + 1):
                if i == MAX_TAG_OCTETS:
                    raise _malformed()
                b = self._take(1)[0]
                raw.append(b)
                tag = (tag << 7) | (b & 0x7F)
                if not b & 0x80:
                    break
        constructed = bool(first & 0x20)
        lb = self._take(1)[0]
        raw.append(lb)
        length: int | None
        if lb < 0x80:
            length = lb
        elif lb == 0x80:
            if not constructed:
                raise _malformed()  # indefinite length is only allowed for constructed encodings
            length = None
        else:
            count = lb & 0x7F
            if count > MAX_LENGTH_OCTETS:
                raise _malformed()
            octets = self._take(count)
            raw += octets
            length = int.from_bytes(octets, "big")
        header = Header(first >> 6, constructed, tag, length, offset, bytes(raw))
        end = header.end
        if end is not None:
            if limit is not None and end > limit:
                raise _malformed()
            if self.size is not None and end > self.size:
                raise _truncated()
        return header

    def at_eoc(self) -> bool:
        """Whether the next two bytes are an end-of-contents marker (not consumed)."""
        return self.peek(2) == EOC

    def read_eoc(self) -> None:
        if self._take(2) != EOC:
            raise _malformed()

    def at_element_end(self, parent: Header) -> bool:
        """Whether `parent`'s content is exhausted: its EOC is next (consumed) or its end is reached."""
        end = parent.end
        if end is None:
            if self.at_eoc():
                self.read_eoc()
                return True
            if self.at_eof():
                raise _truncated()
            return False
        pos = self.position
        if pos > end:
            raise _malformed()
        return pos == end

    def expect_end(self, parent: Header) -> None:
        """The content of `parent` must be over now."""
        if not self.at_element_end(parent):
            raise _malformed()

    def read(self, n: int) -> bytes:
        """Exactly `n` bytes (n ≤ buffer size: for small values only)."""
        if n > len(self._buf):
            raise _malformed()
        return self._take(n)

    def chunks(self, n: int) -> Iterator[memoryview]:
        """Stream the next `n` bytes as views into the buffer, each valid until the next call."""
        remaining = n
        while remaining:
            if not self._available() and not self._fill(1):
                raise _truncated()
            k = min(remaining, self._available())
            view = self._view[self._start : self._start + k]
            self._start += k
            remaining -= k
            yield view

    def skip(self, n: int) -> None:
        for _chunk in self.chunks(n):
            pass

    def read_element(self, max_size: int, *, limit: int | None = None) -> bytes:
        """The raw encoding of the next whole element (any length form), refusing more than `max_size`."""
        out = bytearray()
        self._copy_element(out, max_size, limit, 0)
        return bytes(out)

    def _copy_element(self, out: bytearray, max_size: int, limit: int | None, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _malformed()
        header = self.read_header(limit)
        out += header.raw
        if header.length is not None:
            if len(out) + header.length > max_size:
                raise BerError(_("A CMS element is larger than allowed."))
            for chunk in self.chunks(header.length):
                out += chunk
            return
        while True:
            if self.at_eoc():
                self.read_eoc()
                out += EOC
                return
            self._copy_element(out, max_size, limit, depth + 1)
            if len(out) > max_size:
                raise BerError(_("A CMS element is larger than allowed."))


def iter_octets(reader: BerReader, header: Header, depth: int = 0) -> Iterator[memoryview]:
    """Content of an OCTET STRING (primitive or constructed, any nesting) whose header was read."""
    if not header.constructed:
        assert header.length is not None  # read_header refuses primitive indefinite lengths
        yield from reader.chunks(header.length)
        return
    if depth >= MAX_DEPTH:
        raise _malformed()
    while not reader.at_element_end(header):
        sub = reader.read_header(header.end)
        if not sub.is_(UNIVERSAL, TAG_OCTET_STRING):
            raise _malformed()
        yield from iter_octets(reader, sub, depth + 1)


@dataclass(frozen=True, slots=True)
class Event:
    """`walk` output: "start"/"end" of an element (with its header) or "data" of a primitive."""

    kind: str
    header: Header
    data: bytes = b""


def walk(reader: BerReader, max_depth: int = MAX_DEPTH, limit: int | None = None) -> Iterator[Event]:
    """Generic event stream of one element and everything in it (for tests and diagnostics)."""
    yield from _walk(reader, max_depth, limit, 0)


def _walk(reader: BerReader, max_depth: int, limit: int | None, depth: int) -> Iterator[Event]:
    if depth > max_depth:
        raise _malformed()
    header = reader.read_header(limit)
    yield Event("start", header)
    if header.constructed:
        while not reader.at_element_end(header):
            yield from _walk(reader, max_depth, header.end if header.end is not None else limit, depth + 1)
    else:
        assert header.length is not None
        data = bytearray()
        for chunk in reader.chunks(header.length):
            data += chunk
        yield Event("data", header, bytes(data))
    yield Event("end", header)
