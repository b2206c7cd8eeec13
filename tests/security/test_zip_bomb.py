"""Finding 3: a bomb split into many entries that each look harmless (1 MiB, under the per-entry ratio
rule) is refused before a byte is written, by budgets over the whole archive."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

from sceau.crypto.zipinfo import extract_zip, list_zip
from sceau.errors import TooLarge

ENTRY = b"\x00" * (1 << 20)  # exactly the per-entry threshold: never flagged on its own


def split_bomb(path: Path, entries: int = 200) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(entries):
            zf.writestr(f"offre/piece-{i:05}.bin", ENTRY)
    return path


def test_split_zip_bomb_is_refused_before_writing(tmp_path: Path) -> None:
    archive = split_bomb(tmp_path / "pli.zip")
    assert archive.stat().st_size < 400_000  # 200 MiB declared in a few hundred KB
    listing = list_zip(archive)
    assert {"name": "", "reason": "total-ratio"} in listing["warnings"] and not listing["safe"]
    started = time.monotonic()
    with pytest.raises(TooLarge, match="zip"):
        extract_zip(archive, tmp_path / "extrait")
    assert time.monotonic() - started < 2
    assert not (tmp_path / "extrait").exists()


def test_an_ordinary_many_file_bid_still_extracts(tmp_path: Path) -> None:
    archive = tmp_path / "offre.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(300):
            zf.writestr(f"offre/annexe-{i}.txt", f"Annexe {i} : prix unitaire {i * 3} EUR\n" * 50)
    names = extract_zip(archive, tmp_path / "extrait")
    assert len(names) == 300 and list_zip(archive)["safe"]
