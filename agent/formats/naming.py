"""Output file names platforms expect, and writes that never leave a partial file.

Salles des marchés expect `NAME - Signature N.xml` / `NAME - Signature N.p7s` next to the signed
file, N the first free number; Atexo Sign writes `NAME - AAAAMMJJhhmmss - Signature N.xml`.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sceau.errors import InvalidInput
from sceau.i18n import _

MAX_NAME_LENGTH = 200
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_name(name: str) -> str:
    """A page-supplied document name reduced to a plain file name (no folders, no control chars)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _BAD_CHARS.sub("_", base).strip()
    if base in ("", ".", ".."):
        raise InvalidInput(_("Invalid document name."))
    if len(base) > MAX_NAME_LENGTH:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: MAX_NAME_LENGTH - len(ext) - 1] + dot + ext) if dot and len(ext) < 10 else base[:MAX_NAME_LENGTH]
    return base


def signature_name(name: str, extension: str, number: int, *, dated: datetime | None = None) -> str:
    """`NAME - Signature N.ext`, or the Atexo variant `NAME - AAAAMMJJhhmmss - Signature N.ext`."""
    base = safe_name(name)
    if dated is not None:
        return f"{base} - {dated:%Y%m%d%H%M%S} - Signature {number}.{extension}"
    return f"{base} - Signature {number}.{extension}"


def first_free_signature_name(
    name: str, extension: str, exists: Callable[[str], bool], *, dated: datetime | None = None, limit: int = 999
) -> str:
    """The signature file name with the first number for which `exists` is false."""
    for number in range(1, limit + 1):
        candidate = signature_name(name, extension, number, dated=dated)
        if not exists(candidate):
            return candidate
    raise InvalidInput(_("Too many signature files for {name}.").format(name=safe_name(name)))


def _fsync_dir(folder: Path) -> None:
    # Makes the rename durable on POSIX; directories cannot be opened on Windows.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_file(folder: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=".sceau-", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(tmp)


def atomic_write(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Write `data` to `path` through a synced temp file and a rename: readers never see a partial file.

    With `overwrite=False` the final step is a hard link, which fails if `path` appeared meanwhile.
    """
    path = Path(path)
    tmp = _temp_file(path.parent, data)
    try:
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            os.unlink(tmp)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_signature_file(
    folder: Path, document_name: str, extension: str, data: bytes, *, dated: datetime | None = None
) -> Path:
    """Write next to the document as `NAME - Signature N.ext` with the first free N (race-safe)."""
    folder = Path(folder)
    for _attempt in range(20):
        name = first_free_signature_name(document_name, extension, lambda n: (folder / n).exists(), dated=dated)
        try:
            atomic_write(folder / name, data, overwrite=False)
            return folder / name
        except FileExistsError:
            continue  # another writer took this number: try the next one
    raise InvalidInput(_("Could not choose a free signature file name."))
