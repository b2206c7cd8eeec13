"""Safe look at a decrypted zip archive: list entries, flag dangerous ones, extract with caps.

Nothing here trusts the sizes written in the archive: the central directory is bounded before
`zipfile` reads it, extraction counts the bytes it actually writes, refuses names that escape the
destination (absolute paths, `..`, drive letters, symlinks) and stops on ratio or size caps.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sceau.errors import InvalidInput, TooLarge
from sceau.i18n import _

MAX_CENTRAL_DIRECTORY = 32 << 20
MAX_ENTRIES = 20_000
MAX_LISTED = 500
MAX_RATIO = 200  # uncompressed / compressed, per entry, beyond which we call it a bomb
RATIO_MIN_SIZE = 1 << 20  # small entries may compress extremely well (text, zeros) without harm
# The whole archive: many small entries each under RATIO_MIN_SIZE add up (a "split" bomb). Declared
# sizes bound what is written (zipfile stops reading an entry at its declared size), so the sum of
# declared sizes is checked against the archive's own size before anything is written.
MAX_TOTAL_RATIO = 100
TOTAL_RATIO_MIN_SIZE = 64 << 20


@dataclass(frozen=True)
class ZipLimits:
    max_total_bytes: int = 4 << 30
    max_entry_bytes: int = 2 << 30
    max_entries: int = MAX_ENTRIES


def is_zip(head: bytes) -> bool:
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def _central_directory_ok(path: Path) -> None:
    """Read the end-of-central-directory record and bound the directory size before zipfile loads it."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - 65_557))
        tail = f.read()
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        raise InvalidInput(_("The archive is not a valid zip file."))
    entries, cd_size = struct.unpack("<HI", tail[pos + 10 : pos + 16])
    if cd_size != 0xFFFFFFFF and cd_size > MAX_CENTRAL_DIRECTORY:
        raise TooLarge(_("The archive lists too many entries."))
    if entries != 0xFFFF and entries > MAX_ENTRIES:
        raise TooLarge(_("The archive lists too many entries."))


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why extracting this entry would be dangerous, or None."""
    name = info.filename
    if "\x00" in name:
        return "nul"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return "absolute-path"
    if ".." in PurePosixPath(norm).parts:
        return "path-traversal"
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        return "symlink"
    if info.file_size > RATIO_MIN_SIZE and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        return "compression-ratio"
    return None


def archive_bomb_reason(infos: list[zipfile.ZipInfo], archive_size: int, limits: ZipLimits) -> str | None:
    """Why the archive as a whole would expand too far ("total-size", "total-ratio"), or None."""
    total = sum(max(i.file_size, 0) for i in infos)
    if total > limits.max_total_bytes:
        return "total-size"
    if total > TOTAL_RATIO_MIN_SIZE and total > MAX_TOTAL_RATIO * max(archive_size, 1):
        return "total-ratio"
    return None


def list_zip(path: Path, limits: ZipLimits | None = None) -> dict[str, Any]:
    """Entries (first MAX_LISTED), totals and warnings — JSON-able, for the decryption report."""
    limits = limits or ZipLimits()
    _central_directory_ok(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        raise InvalidInput(_("The archive is not a valid zip file.")) from None
    if len(infos) > limits.max_entries:
        raise TooLarge(_("The archive lists too many entries."))
    entries: list[dict[str, Any]] = []
    warnings: list[dict[str, str]] = []
    total = 0
    for info in infos:
        reason = unsafe_reason(info)
        if reason:
            warnings.append({"name": info.filename[:255], "reason": reason})
        total += info.file_size
        if len(entries) < MAX_LISTED:
            entries.append(
                {
                    "name": info.filename[:255],
                    "size": info.file_size,
                    "compressedSize": info.compress_size,
                    "directory": info.is_dir(),
                    "encrypted": bool(info.flag_bits & 0x1),
                }
            )
    whole = archive_bomb_reason(infos, path.stat().st_size, limits)
    if whole:
        warnings.append({"name": "", "reason": whole})
    return {
        "count": len(infos),
        "totalSize": total,
        "entries": entries,
        "truncated": len(infos) > MAX_LISTED,
        "warnings": warnings,
        "safe": not warnings,
    }


def extract_zip(path: Path, dest: Path, limits: ZipLimits | None = None) -> list[str]:
    """Extract into the new directory `dest` (must not exist); all-or-nothing, caps enforced on real bytes."""
    limits = limits or ZipLimits()
    _central_directory_ok(path)
    dest = Path(dest)
    dest.mkdir(mode=0o700)
    written_total = 0
    names: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_entries:
                raise TooLarge(_("The archive lists too many entries."))
            if archive_bomb_reason(infos, path.stat().st_size, limits):
                raise TooLarge(_("The archive looks like a zip bomb."))  # refused before writing a byte
            root = dest.resolve()
            for info in infos:
                reason = unsafe_reason(info)
                if reason:
                    raise InvalidInput(
                        _("Unsafe entry in the archive ({reason}): {name}").format(
                            reason=reason, name=info.filename[:120]
                        )
                    )
                target = (dest / info.filename.replace("\\", "/")).resolve()
                if target != root and root not in target.parents:
                    raise InvalidInput(
                        _("Unsafe entry in the archive (path-traversal): {name}").format(name=info.filename[:120])
                    )
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with zf.open(info) as src, open(target, "xb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        written_total += len(chunk)
                        if written > limits.max_entry_bytes or written_total > limits.max_total_bytes:
                            raise TooLarge(_("The archive expands beyond the allowed size."))
                        if written > RATIO_MIN_SIZE and written > MAX_RATIO * max(info.compress_size, 1):
                            raise TooLarge(_("The archive looks like a zip bomb."))
                        out.write(chunk)
                names.append(info.filename)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError, EOFError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(exc, FileExistsError):
            raise InvalidInput(_("The archive holds the same file twice.")) from None
        raise InvalidInput(_("The archive is damaged or uses an unsupported feature.")) from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    os.chmod(dest, 0o700 | 0o055)  # noqa: S103 - extracted bid files are meant to be read
    return names
