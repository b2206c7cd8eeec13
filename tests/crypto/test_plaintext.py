"""What the decrypted bid is: zip archives listed and extracted safely, signed bids reported."""

from __future__ import annotations

import io
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sceau.crypto.zipinfo import extract_zip, list_zip
from sceau.devkit.pki import DevPki
from sceau.errors import InvalidInput, TooLarge

from .conftest import openssl_encrypt, pkcs12_manager


def _zip(entries: dict[str, bytes], path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_zip_bid_is_listed_and_extracted(pki: DevPki, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]) -> None:
    archive = _zip(
        {"offre/memoire.pdf": b"%PDF-1.7 ...", "offre/bpu.xlsx": b"x" * 5000, "DC1.pdf": b"dc1"}, tmp_path / "offre.zip"
    )
    bid = tmp_path / "pli.p7m"
    openssl_encrypt(archive, bid, [pki["enc-rsa2048"].cert])
    dest = tmp_path / "extrait"
    report = decrypt(pkcs12_manager(pki), bid, tmp_path / "offre-clair.zip", extract_to=dest)
    z = report["zip"]
    assert z["count"] == 3 and z["safe"] and z["totalSize"] == 12 + 5000 + 3
    assert {e["name"] for e in z["entries"]} == {"offre/memoire.pdf", "offre/bpu.xlsx", "DC1.pdf"}
    assert (dest / "offre" / "bpu.xlsx").read_bytes() == b"x" * 5000
    assert subprocess.run(["unzip", "-tq", str(tmp_path / "offre-clair.zip")], capture_output=True).returncode in (
        0,
        127,
    )


@pytest.mark.parametrize(
    "name,reason",
    [
        ("../../etc/evil", "path-traversal"),
        ("/abs/file", "absolute-path"),
        ("C:/Windows/x", "absolute-path"),
        ("a/..\\..\\b", "path-traversal"),
    ],
)
def test_unsafe_names_flagged_and_refused(name: str, reason: str, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok.txt", b"ok")
        info = zipfile.ZipInfo("placeholder" + "_" * 15)
        zf.writestr(info, b"evil")
    data = buf.getvalue().replace(b"placeholder" + b"_" * 15, name.encode().ljust(26, b"_"))
    path = tmp_path / "a.zip"
    path.write_bytes(data)
    listing = list_zip(path)
    assert not listing["safe"]
    assert listing["warnings"][0]["reason"] == reason
    with pytest.raises(InvalidInput):
        extract_zip(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_bomb_detected(tmp_path: Path) -> None:
    path = _zip({"bomb.bin": b"\x00" * (50 << 20)}, tmp_path / "bomb.zip")
    assert path.stat().st_size < 200_000
    listing = list_zip(path)
    assert listing["warnings"] == [{"name": "bomb.bin", "reason": "compression-ratio"}]
    with pytest.raises((InvalidInput, TooLarge)):
        extract_zip(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_lying_sizes_are_not_trusted(tmp_path: Path) -> None:
    """An entry whose header claims a small size but expands more stops at the caps (counted bytes)."""
    from sceau.crypto.zipinfo import ZipLimits

    path = _zip({"a.bin": b"a" * 300_000}, tmp_path / "a.zip")
    with pytest.raises(TooLarge):
        extract_zip(path, tmp_path / "out", ZipLimits(max_total_bytes=100_000))
    assert not (tmp_path / "out").exists()


def test_signed_then_encrypted_bid(pki: DevPki, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]) -> None:
    doc = tmp_path / "acte.pdf"
    doc.write_bytes(b"%PDF-1.7 acte d'engagement")
    signed = tmp_path / "acte.p7s"
    subprocess.run(
        [
            "openssl",
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-in",
            str(doc),
            "-signer",
            pki["sign-rsa2048"].cert,
            "-inkey",
            pki["sign-rsa2048"].key_pem,
            "-outform",
            "DER",
            "-out",
            str(signed),
        ],
        check=True,
        capture_output=True,
    )
    bid = tmp_path / "pli.p7m"
    openssl_encrypt(signed, bid, [pki["enc-rsa2048"].cert])
    out = tmp_path / "acte-signe.p7s"
    report = decrypt(pkcs12_manager(pki), bid, out)
    assert out.read_bytes() == signed.read_bytes()
    assert report["signed"]["present"] is True
    signed_report = report["signed"]
    # A real verdict on the attached CAdES (no trust anchor configured here, so not "valid").
    assert signed_report["verified"] is True, signed_report
    inner = signed_report["report"]
    assert inner["format"] == "cades" and not inner["error"]
    assert inner["signatures"][0]["integrity"] and inner["signatures"][0]["signatureValid"]
    assert inner["signatures"][0]["trustReason"] == "no trust anchor is configured"
    assert inner["content"]["size"] == len(doc.read_bytes())
