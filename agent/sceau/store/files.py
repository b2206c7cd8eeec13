"""File I/O shared by the stores and the outputs: atomic files, advisory locks, durable renames.

Atomic output: write to a private temp file next to the target, fsync, rename only on success, so a
failed or interrupted decryption never leaves partial plaintext under the target name (the temp
file is removed on any error). Advisory inter-process lock: fcntl on POSIX, msvcrt on Windows.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created if needed) for the `with` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX); directories cannot be opened on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicOutput:
    """`with AtomicOutput(path) as out: out.file.write(...); out.commit()` — no commit, no file."""

    def __init__(self, target: Path, *, overwrite: bool = True) -> None:
        self.target = Path(target)
        self.overwrite = overwrite
        fd, tmp = tempfile.mkstemp(prefix=f".{self.target.name[:40]}.", suffix=".part", dir=self.target.parent)
        self.temp_path = Path(tmp)  # mkstemp creates it 0600
        self.file: BinaryIO = os.fdopen(fd, "wb", buffering=0)
        self.committed = False

    def __enter__(self) -> AtomicOutput:
        return self

    def commit(self) -> Path:
        """Flush to disk and move into place. Without `overwrite` the final step is a hard link,
        which fails (FileExistsError) if the target appeared meanwhile: no check-then-rename race."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        if self.overwrite:
            os.replace(self.temp_path, self.target)
        else:
            os.link(self.temp_path, self.target)
            self.temp_path.unlink()
        self.committed = True
        with contextlib.suppress(OSError):
            fsync_dir(self.target.parent)
        return self.target

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        if not self.committed:
            with contextlib.suppress(FileNotFoundError):
                self.temp_path.unlink()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.discard()


def atomic_write(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Write `data` to `path` through a synced temp file: readers never see a partial file."""
    with AtomicOutput(Path(path), overwrite=overwrite) as out:
        out.file.write(data)
        out.commit()
