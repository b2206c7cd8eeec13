"""`sceau trust refresh` then `sceau verify` (no --trust): the level from the trusted lists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sceau.devkit import trustlists as D
from sceau.devkit.verifiers import openssl_cms_verify
from tests.trust.conftest import World


def _sceau(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sceau.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def refreshed(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("trust-data")
    cfg = world.config(data)
    out = _sceau("trust", "refresh", "--config", str(cfg))
    assert out.returncode == 0, out.stdout + out.stderr
    return cfg


def _sign_verify(world: World, cfg: Path, who: str, tmp: Path, lang: str = "fr") -> tuple[dict[str, Any], str]:
    doc = tmp / "acte-engagement.pdf"
    doc.write_bytes(b"%PDF-1.4 acte d'engagement " + who.encode())
    sig = tmp / f"{who}.p7s"
    out = _sceau(
        "sign", "--format", "cades", "--pkcs12", str(world.p12[who]), "--password-env", "P12PW", "-y",
        "--config", str(cfg), "-o", str(sig), str(doc),
        env={"P12PW": D.PASSWORD},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    ca = tmp / "ca.pem"
    ca.write_bytes(D.pem(world.keys["fr-ca"][0], world.keys["de-ca"][0]))
    assert openssl_cms_verify(sig, trusted=ca, content=doc).ok  # the signature itself, independently
    js = _sceau("verify", str(sig), "--detached", str(doc), "--json", "--lang", lang, "--config", str(cfg))
    text = _sceau("verify", str(sig), "--detached", str(doc), "--lang", lang, "--config", str(cfg))
    return json.loads(js.stdout), text.stdout


def test_qualified_with_qscd(world: World, refreshed: Path, tmp_path: Path) -> None:
    report, text = _sign_verify(world, refreshed, "qes", tmp_path)
    sig = report["signatures"][0]
    assert sig["trusted"] is True  # anchored by the list, without --trust
    q = sig["qualification"]
    assert q["level"] == "QES" and q["qscd"] and q["trustedList"]["territory"] == "FR"
    assert q["service"] == "AC Qualifiée Test FR" and q["status"] == "granted" and q["rgsLevel"] == "**"
    assert "Niveau : Signature électronique qualifiée" in text
    assert "L'identité du signataire est valable" in text
    assert "Listes de confiance de l'UE téléchargées le" in text
    assert report["trustedListsFetched"]


def test_qualified_certificate_without_qscd(world: World, refreshed: Path, tmp_path: Path) -> None:
    report, text = _sign_verify(world, refreshed, "adesqc", tmp_path)
    q = report["signatures"][0]["qualification"]
    assert q["level"] == "AdESig-QC" and not q["qscd"]
    assert "Signature électronique avancée reposant sur un certificat qualifié" in text
    assert "dispositif de création de signature qualifié" in text


def test_seal(world: World, refreshed: Path, tmp_path: Path) -> None:
    report, text = _sign_verify(world, refreshed, "seal", tmp_path, lang="en")
    assert report["signatures"][0]["qualification"]["level"] == "QESeal"
    assert "Level: Qualified electronic seal" in text


def test_not_qualified_certificate(world: World, refreshed: Path, tmp_path: Path) -> None:
    report, text = _sign_verify(world, refreshed, "nonqc", tmp_path)
    q = report["signatures"][0]["qualification"]
    assert q["level"] == "AdES" and "not qualified" in q["reasons"][0]
    assert "Niveau : Signature électronique avancée (non qualifiée)" in text
    assert "Le certificat n'est pas qualifié (pas de déclaration QcCompliance)" in text


def test_withdrawn_before_signing(world: World, refreshed: Path, tmp_path: Path) -> None:
    report, text = _sign_verify(world, refreshed, "withdrawn", tmp_path)
    q = report["signatures"][0]["qualification"]
    assert q["level"] == "AdES" and q["status"] == "withdrawn" and q["trustedList"]["territory"] == "DE"
    assert "withdrawn" in q["reasons"][0]
    assert "« retiré »" in text and "non qualifiée" in text


def test_without_lists(world: World, refreshed: Path, tmp_path: Path) -> None:
    doc = tmp_path / "d.txt"
    doc.write_bytes(b"x")
    sig = tmp_path / "d.p7s"
    out = _sceau(
        "sign", "--format", "cades", "--pkcs12", str(world.p12["qes"]), "--password-env", "P12PW", "-y",
        "--config", str(refreshed), "-o", str(sig), str(doc), env={"P12PW": D.PASSWORD},
    )  # fmt: skip
    assert out.returncode == 0
    js = _sceau("verify", str(sig), "--detached", str(doc), "--json", "--no-trusted-lists", "--config", str(refreshed))
    report = json.loads(js.stdout)
    assert report["signatures"][0]["qualification"] is None and not report["signatures"][0]["trusted"]
    assert js.returncode != 0


@pytest.mark.parametrize("fmt", ["xades", "pades"])
def test_qualified_other_formats(world: World, refreshed: Path, tmp_path: Path, fmt: str) -> None:
    from tests.formats.pdfs import make_pdf

    doc = tmp_path / "acte.pdf"
    doc.write_bytes(make_pdf())
    out = tmp_path / ("acte.xml" if fmt == "xades" else "acte-signe.pdf")
    res = _sceau(
        "sign", "--format", fmt, "--pkcs12", str(world.p12["qes"]), "--password-env", "P12PW", "-y",
        "--config", str(refreshed), "-o", str(out), str(doc), env={"P12PW": D.PASSWORD},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    extra = ["--detached", str(doc)] if fmt == "xades" else []
    js = _sceau("verify", str(out), *extra, "--json", "--config", str(refreshed))
    sig = json.loads(js.stdout)["signatures"][0]
    assert sig["trusted"] and sig["qualification"]["level"] == "QES", sig


async def test_page_verify_reports_level(world: World, refreshed: Path, tmp_path: Path) -> None:
    """The `verify` command (from a page) uses the agent's cached lists the same way."""
    import base64

    from sceau.config import load
    from sceau.operations.context import OperationContext
    from sceau.operations.verify import OPERATION
    from sceau.tokens.executor import TokenExecutor
    from sceau.tokens.registry import TokenManager
    from sceau.ui.headless import HeadlessUI

    doc = tmp_path / "bpu.csv"
    doc.write_bytes(b"lot;prix\n1;100\n")
    sig = tmp_path / "bpu.p7s"
    res = _sceau(
        "sign", "--format", "cades", "--pkcs12", str(world.p12["adesqc"]), "--password-env", "P12PW", "-y",
        "--config", str(refreshed), "-o", str(sig), str(doc), env={"P12PW": D.PASSWORD},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    ctx = OperationContext(
        "https://marches.example.fr", HeadlessUI(), TokenManager([]), load(refreshed), TokenExecutor()
    )

    def b64(data: bytes) -> dict[str, str]:
        return {"data": base64.b64encode(data).decode()}

    args = {"document": b64(sig.read_bytes()), "name": "bpu.p7s", "detached": b64(doc.read_bytes()),
            "detachedName": "bpu.csv", "language": "en"}  # fmt: skip
    result = await OPERATION.run(ctx, OPERATION.parse(args))
    assert result["signatures"][0]["qualification"]["level"] == "AdESig-QC"
    assert "Advanced electronic signature supported by a qualified certificate" in result["text"]


def test_hint_without_lists(world: World, tmp_path: Path) -> None:
    cfg = world.config(tmp_path / "empty")
    doc = tmp_path / "d.txt"
    doc.write_bytes(b"x")
    sig = tmp_path / "d.p7s"
    res = _sceau(
        "sign", "--format", "cades", "--pkcs12", str(world.p12["qes"]), "--password-env", "P12PW", "-y",
        "--config", str(cfg), "-o", str(sig), str(doc), env={"P12PW": D.PASSWORD},
    )  # fmt: skip
    assert res.returncode == 0
    text = _sceau("verify", str(sig), "--detached", str(doc), "--lang", "fr", "--config", str(cfg)).stdout
    assert "Les listes de confiance de l'UE ne sont pas chargées" in text
