"""`sceau sign` end to end (subprocess), then `sceau verify` and an independent tool on the output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sceau.devkit import pki as devpki
from sceau.devkit import softhsm, verifiers
from sceau.devkit.pki import DevPki

from .conftest import FORMATS_TOKEN, run
from .pdfs import make_pdf


def sceau(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sceau.cli", *args], capture_output=True, text=True, env=env, check=False
    )


def test_sign_batch_with_softhsm_then_verify(fpki: DevPki, softhsm_module: str, tsa_url: str, tmp_path: Path) -> None:
    env = dict(os.environ, SCEAU_PIN=softhsm.USER_PIN, SCEAU_LANG="fr")
    (tmp_path / "Acte d'engagement.pdf").write_bytes(make_pdf())
    (tmp_path / "BPU.rtf").write_bytes(b"{\\rtf1 prix}")
    out = tmp_path / "out"
    res = sceau(
        "sign",
        "--format",
        "cades",
        "--level",
        "B-T",
        "--tsa",
        tsa_url,
        "--pkcs11-module",
        softhsm_module,
        "--token-label",
        FORMATS_TOKEN,
        "--pin-env",
        "SCEAU_PIN",
        "--key-label",
        "sign-ec256",
        "--yes",
        "--trust",
        str(fpki.chain),
        "-o",
        str(out),
        str(tmp_path / "Acte d'engagement.pdf"),
        str(tmp_path / "BPU.rtf"),
        env=env,
    )
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "Acte d'engagement.pdf - Signature 1.p7s",
        "BPU.rtf - Signature 1.p7s",
    ]
    check = run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(out / "BPU.rtf - Signature 1.p7s"),
            "-content",
            str(tmp_path / "BPU.rtf"),
            "-CAfile",
            str(fpki.root_ca),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ]
    )
    assert check.returncode == 0, check.stderr
    ver = sceau(
        "verify",
        str(out / "BPU.rtf - Signature 1.p7s"),
        "--detached",
        str(tmp_path / "BPU.rtf"),
        "--trust",
        str(fpki.root_ca),
        env=env,
    )
    assert ver.returncode == 0, ver.stdout + ver.stderr
    assert "Horodatage valable" in ver.stdout


def test_sign_pades_with_p12(fpki: DevPki, tmp_path: Path) -> None:
    env = dict(os.environ, SCEAU_PW=devpki.P12_PASSWORD)
    (tmp_path / "DC1.pdf").write_bytes(make_pdf())
    target = tmp_path / "DC1-signe.pdf"
    res = sceau(
        "sign",
        "--format",
        "pades",
        "--pkcs12",
        fpki["sign-rsa2048"].p12,
        "--password-env",
        "SCEAU_PW",
        "--yes",
        "--reason",
        "Signature de l'acte d'engagement",
        "--visible",
        "1:40,40,300,100",
        "-o",
        str(target),
        str(tmp_path / "DC1.pdf"),
        env=env,
    )
    assert res.returncode == 0, res.stderr
    assert "Signature is Valid." in verifiers.pdfsig(target).stdout
    again = sceau(
        "sign",
        "--format",
        "pades",
        "--pkcs12",
        fpki["sign-rsa2048"].p12,
        "--password-env",
        "SCEAU_PW",
        "--yes",
        "-o",
        str(target),
        str(tmp_path / "DC1.pdf"),
        env=env,
    )
    assert again.returncode != 0 and "Traceback" not in again.stderr  # never replaces an existing file


def test_refusal_without_yes(fpki: DevPki, tmp_path: Path) -> None:
    env = dict(os.environ, SCEAU_PW=devpki.P12_PASSWORD)
    (tmp_path / "a.txt").write_bytes(b"a")
    res = sceau(
        "sign",
        "--format",
        "xades",
        "--pkcs12",
        fpki["sign-rsa2048"].p12,
        "--password-env",
        "SCEAU_PW",
        "-o",
        str(tmp_path / "out"),
        str(tmp_path / "a.txt"),
        env=env,
    )
    assert res.returncode != 0 and "USER_CANCELLED" in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
