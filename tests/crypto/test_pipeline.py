"""The read-ahead / write-behind threads of the streaming ciphers: order kept, errors raised in the caller."""

from __future__ import annotations

import errno
import io
import os

import pytest

from sceau.crypto.pipeline import ReaderThread, WriterThread


class FullDisk(io.RawIOBase):
    """Accepts `room` bytes, then fails like a full disk."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        view = memoryview(b)  # type: ignore[arg-type]
        if len(self.data) + len(view) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.data += view
        return len(view)


def test_writer_keeps_order_of_acquired_buffers_copied_writes_and_bytes() -> None:
    out = io.BytesIO()
    expected = bytearray()
    with WriterThread(out, 64, depth=2) as w:
        for i in range(50):
            piece = os.urandom(i)
            w.write(piece)  # coalesced copies
            expected += piece
            buf = w.acquire()
            buf[:10] = bytes([i]) * 10
            w.submit(buf, 10)
            expected += bytes([i]) * 10
            w.submit(b"hdr", 3)
            expected += b"hdr"
    assert out.getvalue() == bytes(expected)


def test_writer_raises_the_disk_full_error_in_the_caller() -> None:
    w = WriterThread(FullDisk(100), 64, depth=2)
    with pytest.raises(OSError) as info:
        for _ in range(100):  # raised at a later call or at close, never swallowed
            w.write(b"x" * 64)
        w.close()
    assert info.value.errno == errno.ENOSPC


def test_reader_yields_the_stream_in_order_and_raises_read_errors() -> None:
    data = os.urandom(10_000)
    assert b"".join(bytes(v) for v in ReaderThread(io.BytesIO(data), 333)) == data

    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: object) -> int:
            raise OSError(errno.EIO, "I/O error")

    with pytest.raises(OSError):
        list(ReaderThread(Broken(), 64))  # type: ignore[arg-type]


def test_a_failing_consumer_does_not_wait_for_a_blocked_pipe() -> None:
    """`sceau encrypt -` whose output fails while stdin is still open: no hang."""
    r, w = os.pipe()
    try:
        with open(r, "rb", buffering=0, closefd=False) as src:
            reader = ReaderThread(src, 64)  # type: ignore[arg-type]
            os.write(w, b"x" * 10)
            it = iter(reader)
            assert bytes(next(it)) == b"x" * 10
            reader.close(wait=False)  # the reader is blocked in read(): returns at once
            it.close()
    finally:
        os.close(w)
        os.close(r)
