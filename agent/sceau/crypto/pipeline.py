"""Overlap file I/O with the cipher: a reading thread ahead of it, a writing thread behind it.

The AES calls of `cryptography` hold the GIL while `readinto` / `write` release it, so on two cores
a streaming cipher spends its time ciphering while the previous chunk is written and the next one
read. Memory stays bounded: a small pool of fixed buffers circulates between the threads (`depth`
buffers each way), so the pipeline never holds more than a few MiB whatever the file size.

Errors (ENOSPC, EIO, a closed pipe) are raised in the calling thread at its next call, and
`close()` re-raises a late one, so a failed write can never look like a finished file.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any, BinaryIO

DEPTH = 3
_STOP = None


class WriterThread:
    """`out.write` in a background thread. `acquire()` a buffer, fill it, `submit(buf, n)`; or `write(data)`.

    `digest`, when given, is updated with everything written, in the same thread."""

    def __init__(self, out: BinaryIO, size: int, depth: int = DEPTH, digest: Any = None) -> None:
        self.out = out
        self.size = size
        self.digest = digest  # a hashlib object fed what is written (hashlib drops the GIL too)
        self._free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(depth):
            self._free.put(bytearray(size))
        self._todo: queue.Queue[tuple[bytes | bytearray, int] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._current: bytearray | None = None  # partly filled by write()
        self._filled = 0
        self._thread = threading.Thread(target=self._run, name="sceau-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._todo.get()
            if item is _STOP:
                return
            data, n = item
            try:
                if self._error is None:
                    view = memoryview(data)[:n]
                    if self.digest is not None:
                        self.digest.update(view)
                    while view:  # raw files may write short
                        k = self.out.write(view)
                        view = view[k if k is not None else len(view) :]
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc
            finally:
                if isinstance(data, bytearray) and len(data) == self.size:
                    self._free.put(data)

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def acquire(self) -> bytearray:
        """A free buffer of `size` bytes (waits while all are being written)."""
        self._check()
        self._flush_current()
        return self._free.get()

    def submit(self, buf: bytes | bytearray, n: int) -> None:
        """Write the first `n` bytes of `buf` (an acquired buffer, or immutable bytes) after everything before."""
        self._check()
        self._flush_current()
        self._todo.put((buf, n))

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Copy `data` into pool buffers, written as each fills (small pieces are coalesced)."""
        self._check()
        view = memoryview(data).cast("B")
        while view:
            if self._current is None:
                self._current = self._free.get()
                self._filled = 0
            k = min(len(view), self.size - self._filled)
            self._current[self._filled : self._filled + k] = view[:k]
            self._filled += k
            view = view[k:]
            if self._filled == self.size:
                self._flush_current()

    def _flush_current(self) -> None:
        if self._current is not None:
            buf, n = self._current, self._filled
            self._current = None
            if n:
                self._todo.put((buf, n))
            else:
                self._free.put(buf)

    def close(self) -> None:
        """Write what is pending, stop the thread, and raise the first write error if there was one."""
        self._flush_current()
        self._todo.put(_STOP)
        self._thread.join()
        self._check()

    def abort(self) -> None:
        """Stop without raising (the caller is already failing)."""
        self._current = None
        self._error = self._error or RuntimeError("aborted")
        self._todo.put(_STOP)
        self._thread.join()

    def __enter__(self) -> WriterThread:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class ReaderThread:
    """`src.readinto` in a background thread; iterate to get filled views (each valid until the next)."""

    def __init__(self, src: BinaryIO, size: int, depth: int = DEPTH) -> None:
        self.src = src
        self._free: queue.Queue[bytearray | None] = queue.Queue()
        for _ in range(depth):
            self._free.put(bytearray(size))
        self._full: queue.Queue[tuple[bytearray, int] | BaseException | None] = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sceau-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                buf = self._free.get()
                if buf is None:  # closed by the consumer
                    return
                n = self.src.readinto(buf)  # type: ignore[attr-defined]
                if not n:
                    self._full.put(_STOP)
                    return
                self._full.put((buf, n))
        except BaseException as exc:  # handed to the consumer's thread
            self._full.put(exc)

    def __iter__(self) -> Iterator[memoryview]:
        previous: bytearray | None = None
        try:
            while True:
                item = self._full.get()
                if previous is not None:
                    self._free.put(previous)
                    previous = None
                if item is _STOP:
                    return
                if isinstance(item, BaseException):
                    raise item
                previous, n = item
                yield memoryview(previous)[:n]
        finally:
            self.close(wait=False)  # at the end of the file the thread has already ended

    def close(self, wait: bool = True) -> None:
        """Stop reading. `wait=False` on an error path: a read blocked on a pipe (stdin) may never
        return, and the daemon thread then simply ends with the process."""
        if not self._closed:
            self._closed = True
            self._free.put(None)
        if wait:
            self._thread.join()
