"""The read-ahead / write-behind threads of the streaming ciphers: order kept, errors raised in the caller."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sceau.crypto.pipeline import ReaderThread, WriterThread
from sceau.devkit.pki import DevPki

from .conftest import openssl_decrypt


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


def test_cli_encrypts_standard_input_through_the_pipeline(pki: DevPki, cli_env: dict[str, str], tmp_path: Path) -> None:
    """Unknown size (a pipe): indefinite-length BER in several pieces, opened by openssl."""
    data = os.urandom(3 << 20)
    bid = tmp_path / "pli.p7m"
    cmd = [sys.executable, "-m", "sceau.cli", "encrypt", "--to", pki["enc-rsa2048"].cert, "-o", str(bid), "-"]
    res = subprocess.run(cmd, env=cli_env, input=data, capture_output=True)
    assert res.returncode == 0, res.stderr
    assert bid.read_bytes()[:2] == b"\x30\x80"
    out = tmp_path / "plain"
    assert openssl_decrypt(bid, out, pki["enc-rsa2048"].cert, pki["enc-rsa2048"].key_pem).returncode == 0
    assert out.read_bytes() == data
