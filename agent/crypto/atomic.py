"""Atomic output files: write to a private temp file next to the target, fsync, rename only on success.

A failed or interrupted decryption therefore never leaves partial plaintext under the target
name, and the temp file is removed on any error.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO


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
        """Flush to disk and move into place."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        if not self.overwrite and self.target.exists():
            raise FileExistsError(str(self.target))
        os.replace(self.temp_path, self.target)
        self.committed = True
        with contextlib.suppress(OSError):  # directory fsync is not possible everywhere (Windows)
            dir_fd = os.open(self.target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
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
