"""Output names (`NAME - Signature N.ext`, Atexo's dated variant) and atomic, no-clobber writes."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sceau.errors import InvalidInput
from sceau.formats import naming


def test_first_free_number(tmp_path: Path) -> None:
    (tmp_path / "Acte_engagement.pdf - Signature 1.xml").write_text("x")
    (tmp_path / "Acte_engagement.pdf - Signature 2.xml").write_text("x")
    out = naming.write_signature_file(tmp_path, "Acte_engagement.pdf", "xml", b"<sig/>")
    assert out.name == "Acte_engagement.pdf - Signature 3.xml" and out.read_bytes() == b"<sig/>"
    assert naming.write_signature_file(tmp_path, "BPU.rtf", "p7s", b"\x30").name == "BPU.rtf - Signature 1.p7s"


def test_atexo_variant() -> None:
    when = datetime(2026, 11, 23, 9, 5, 7, tzinfo=UTC)
    assert naming.signature_name("DC1.pdf", "xml", 1, dated=when) == "DC1.pdf - 20261123090507 - Signature 1.xml"


@pytest.mark.parametrize("name", ["", "..", "/", "a/../../"])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidInput):
        naming.safe_name(name)


def test_names_lose_folders_and_controls() -> None:
    assert naming.safe_name("../../etc/passwd") == "passwd"
    assert naming.safe_name("C:\\Users\\x\\offre\n.pdf") == "offre_.pdf"
    assert len(naming.safe_name("a" * 500 + ".pdf")) <= naming.MAX_NAME_LENGTH


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.p7s"
    target.write_bytes(b"old")

    def boom(*_a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        naming.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.p7s"]  # no temp file left behind


def test_no_clobber(tmp_path: Path) -> None:
    target = tmp_path / "x.xml"
    target.write_bytes(b"first")
    with pytest.raises(FileExistsError):
        naming.atomic_write(target, b"second", overwrite=False)
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["x.xml"]
