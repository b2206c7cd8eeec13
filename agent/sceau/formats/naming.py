"""Output file names platforms expect, and writes that never leave a partial file.

Salles des marchés expect `NAME - Signature N.xml` / `NAME - Signature N.p7s` next to the signed
file, N the first free number; Atexo Sign writes `NAME - AAAAMMJJhhmmss - Signature N.xml`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sceau.errors import InvalidInput
from sceau.i18n import _
from sceau.store.files import atomic_write as atomic_write  # re-exported: callers write through naming

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
