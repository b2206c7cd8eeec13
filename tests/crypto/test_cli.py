"""`sceau encrypt` / `sceau decrypt` as a user runs them (subprocess), PKCS#12 backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sceau.devkit.pki import DevPki

from .conftest import openssl_decrypt


def _sceau(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sceau.cli", *args], env=env, capture_output=True, text=True)


def test_cli_roundtrip_and_errors(pki: DevPki, cli_env: dict[str, str], tmp_path: Path, plaintext: Path) -> None:
    bid = tmp_path / "pli.p7m"
    res = _sceau(
        cli_env,
        "encrypt",
        "--to",
        pki["enc-rsa2048"].cert,
        "--to",
        pki["enc-backup-rsa2048"].cert,
        "--rsa-padding",
        "oaep-sha1",
        "-o",
        str(bid),
        str(plaintext),
    )
    assert res.returncode == 0, res.stderr
    assert (
        openssl_decrypt(
            bid, tmp_path / "o", pki["enc-backup-rsa2048"].cert, pki["enc-backup-rsa2048"].key_pem
        ).returncode
        == 0
    )
    out = tmp_path / "clair.pdf"
    res = _sceau(
        cli_env,
        "decrypt",
        "--pkcs12",
        pki["enc-backup-rsa2048"].p12,
        "--password-env",
        "SCEAU_P12_PASSWORD",
        "--yes",
        "--json",
        "-o",
        str(out),
        str(bid),
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["certificate"]["commonName"] == "Clé de secours"
    assert out.read_bytes() == plaintext.read_bytes()
    # Existing output is not overwritten without --force.
    res = _sceau(
        cli_env,
        "decrypt",
        "--pkcs12",
        pki["enc-rsa2048"].p12,
        "--password-env",
        "SCEAU_P12_PASSWORD",
        "--yes",
        "-o",
        str(out),
        str(bid),
    )
    assert res.returncode != 0 and "--force" in res.stderr
    # Not a recipient: clear code, no output.
    res = _sceau(
        cli_env,
        "decrypt",
        "--pkcs12",
        pki["enc-ec256"].p12,
        "--password-env",
        "SCEAU_P12_PASSWORD",
        "--yes",
        "-o",
        str(tmp_path / "none"),
        str(bid),
    )
    assert res.returncode != 0 and "NOT_A_RECIPIENT" in res.stderr
    assert not (tmp_path / "none").exists()
    # Without --yes the headless UI refuses: nothing is decrypted.
    res = _sceau(
        cli_env,
        "decrypt",
        "--pkcs12",
        pki["enc-rsa2048"].p12,
        "--password-env",
        "SCEAU_P12_PASSWORD",
        "-o",
        str(tmp_path / "refused"),
        str(bid),
    )
    assert res.returncode != 0 and "USER_CANCELLED" in res.stderr
    assert not (tmp_path / "refused").exists()


def test_cli_unwrap_key(pki: DevPki, cli_env: dict[str, str], tmp_path: Path, plaintext: Path) -> None:
    bid = tmp_path / "pli.p7m"
    assert (
        _sceau(
            cli_env, "encrypt", "--to", pki["enc-ec256"].cert, "--cipher", "aes-256-gcm", "-o", str(bid), str(plaintext)
        ).returncode
        == 0
    )
    res = _sceau(
        cli_env,
        "decrypt",
        "--pkcs12",
        pki["enc-ec256"].p12,
        "--password-env",
        "SCEAU_P12_PASSWORD",
        "--yes",
        "--unwrap-key",
        "--json",
        str(bid),
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["algorithm"] == "aes-256-gcm" and len(report["key"]) == 44 and report["tagLength"] == 16


def test_encrypt_starts_without_the_token_stack(
    pki: DevPki, cli_env: dict[str, str], tmp_path: Path, plaintext: Path
) -> None:
    """`sceau encrypt` imports only its own module (scripts run it per file: start-up is part of its
    cost), and the result still opens with openssl."""
    bid = tmp_path / "light.p7m"
    code = (
        "import sys\nfrom sceau.cli import main\n"
        f"rc = main(['encrypt', '--to', {pki['enc-rsa2048'].cert!r}, '-o', {str(bid)!r}, {str(plaintext)!r}])\n"
        "heavy = [m for m in ('asyncio', 'pkcs11', 'sceau.tokens.pkcs11', 'sceau.operations', 'sceau.ui.api')"
        " if m in sys.modules]\n"
        "print(rc, heavy)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], env=cli_env, capture_output=True, text=True)
    assert res.stdout.strip() == "0 []", res.stdout + res.stderr
    out = tmp_path / "light.out"
    assert openssl_decrypt(bid, out, pki["enc-rsa2048"].cert, pki["enc-rsa2048"].key_pem).returncode == 0
    assert out.read_bytes() == plaintext.read_bytes()
