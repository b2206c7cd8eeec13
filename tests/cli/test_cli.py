"""The `sceau` CLI end to end (subprocesses, real SoftHSM2), including every failure path of issue 3."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki

NONCE = base64.b64encode(b"n" * 32).decode()


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sceau.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def assert_clean_error(r: subprocess.CompletedProcess[str], code: str) -> None:
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert f"({code})" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def p11_opts(module: str, label: str = "auth-rsa2048") -> list[str]:
    return [
        "--pkcs11-module",
        module,
        "--token-label",
        softhsm.TOKEN_LABEL,
        "--pin-env",
        "SCEAU_PIN",
        "--key-label",
        label,
    ]


def test_certs_lists_by_role(cli_env: dict[str, str], softhsm_module: str) -> None:
    r = cli(["certs", "--pkcs11-module", softhsm_module, "--role", "encrypt", "--json"], cli_env)
    assert r.returncode == 0, r.stderr
    labels = {c["commonName"] for c in json.loads(r.stdout)}
    assert "Clé de secours" in labels
    assert all("encrypt" in c["roles"] for c in json.loads(r.stdout))


def test_certs_french_by_default(cli_env: dict[str, str], softhsm_module: str) -> None:
    env = {**cli_env, "SCEAU_LANG": "fr"}
    r = cli(["certs", "--pkcs11-module", softhsm_module, "--role", "sign"], env)
    assert r.returncode == 0
    assert "titulaire" in r.stdout


def test_doctor_reports_token(cli_env: dict[str, str], softhsm_module: str) -> None:
    r = cli(["doctor", "--json"], cli_env)
    checks = json.loads(r.stdout)
    # Found through p11-kit's registry or the vendor table: the same file, maybe by another path.
    real = os.path.realpath(softhsm_module)
    softhsm = [c for c in checks if os.path.realpath(c["name"].rpartition(": ")[2]) == real]
    assert softhsm and softhsm[0]["ok"] and any("Sceau Test" in i for i in softhsm[0]["items"])
    assert "origin: " in softhsm[0]["detail"]  # p11-kit registry or vendor table, and which file


def test_wrong_pin_reports_tries(token_copy: Path, cli_env: dict[str, str], softhsm_module: str) -> None:
    env = {**cli_env, "SOFTHSM2_CONF": str(token_copy), "SCEAU_PIN": "000000"}
    r = cli(["auth-token", "--origin", "https://x.fr", "--nonce", NONCE, "--yes", *p11_opts(softhsm_module)], env)
    assert_clean_error(r, "USER_CANCELLED")
    assert "Wrong PIN" in r.stderr


def test_pin_counter_then_locked(
    token_copy: Path, cli_env: dict[str, str], pinlimit_module: Path, softhsm_module: str, tmp_path: Path
) -> None:
    state = tmp_path / "pin.state"
    env = {
        **cli_env,
        "SOFTHSM2_CONF": str(token_copy),
        "PINLIMIT_MODULE": softhsm_module,
        "PINLIMIT_STATE": str(state),
        "PINLIMIT_TRIES": "3",
        "SCEAU_PIN": "000000",
    }
    args = ["auth-token", "--origin", "https://x.fr", "--nonce", NONCE, "--yes", *p11_opts(str(pinlimit_module))]
    first = cli(args, env)
    assert_clean_error(first, "USER_CANCELLED")
    second = cli(args, env)
    assert "one try left" in second.stderr  # token now reports FINAL_TRY
    third = cli(args, env)
    assert_clean_error(third, "PIN_LOCKED")
    # Locked: even the right PIN is refused, before any login attempt, with what to do.
    right = cli(args, {**env, "SCEAU_PIN": softhsm.USER_PIN})
    assert_clean_error(right, "PIN_LOCKED")
    assert "PUK" in right.stderr


def test_no_token(cli_env: dict[str, str], softhsm_module: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    conf = tmp_path / "c.conf"
    conf.write_text(f"directories.tokendir = {empty}\nobjectstore.backend = file\n")
    r = cli(["certs", "--pkcs11-module", softhsm_module], {**cli_env, "SOFTHSM2_CONF": str(conf)})
    assert_clean_error(r, "NO_TOKEN")


def test_no_certificate_for_role(cli_env: dict[str, str], pki: DevPki) -> None:
    r = cli(
        [
            "auth-token",
            "--origin",
            "https://x.fr",
            "--nonce",
            NONCE,
            "--yes",
            "--pkcs12",
            pki["sign-rsa2048"].p12,
            "--password-env",
            "SCEAU_P12_PASSWORD",
        ],
        cli_env,
    )
    assert_clean_error(r, "NO_CERTIFICATE")


def test_pkcs12_wrong_password(cli_env: dict[str, str], pki: DevPki) -> None:
    env = {**cli_env, "SCEAU_P12_PASSWORD": "faux"}
    r = cli(["certs", "--pkcs12", pki["auth-rsa2048"].p12, "--password-env", "SCEAU_P12_PASSWORD"], env)
    assert_clean_error(r, "USER_CANCELLED")
    assert "Wrong password" in r.stderr


def test_pkcs12_corrupt(cli_env: dict[str, str], tmp_path: Path, pki: DevPki) -> None:
    bad = tmp_path / "bad.p12"
    data = bytearray(Path(pki["auth-rsa2048"].p12).read_bytes())
    bad.write_bytes(bytes(data[:50]))
    r = cli(["certs", "--pkcs12", str(bad), "--password-env", "SCEAU_P12_PASSWORD"], cli_env)
    assert_clean_error(r, "INVALID_INPUT")
    missing = cli(["certs", "--pkcs12", str(tmp_path / "nope.p12"), "--password-env", "SCEAU_P12_PASSWORD"], cli_env)
    assert_clean_error(missing, "NO_TOKEN")


@pytest.mark.parametrize("module", ["/nonexistent/libfoo.so", "/etc/hostname"])
def test_broken_module(cli_env: dict[str, str], module: str) -> None:
    r = cli(["certs", "--pkcs11-module", module], cli_env)
    assert_clean_error(r, "NO_TOKEN")
    assert "PKCS#11" in r.stderr


def test_http_origin_refused_outside_dev_mode(cli_env: dict[str, str], softhsm_module: str) -> None:
    r = cli(
        ["auth-token", "--origin", "http://marches.fr", "--nonce", NONCE, "--yes", *p11_opts(softhsm_module)], cli_env
    )
    assert_clean_error(r, "ORIGIN_NOT_ALLOWED")
    dev = cli(
        [
            "auth-token",
            "--origin",
            "http://localhost:8080",
            "--nonce",
            NONCE,
            "--yes",
            "--dev",
            *p11_opts(softhsm_module),
        ],
        cli_env,
    )
    assert dev.returncode == 0, dev.stderr


def test_nonce_too_short(cli_env: dict[str, str], softhsm_module: str) -> None:
    short = base64.b64encode(b"x" * 16).decode()
    r = cli(["auth-token", "--origin", "https://x.fr", "--nonce", short, "--yes", *p11_opts(softhsm_module)], cli_env)
    assert_clean_error(r, "BAD_REQUEST")


def test_no_pin_no_default(cli_env: dict[str, str], softhsm_module: str) -> None:
    env = {k: v for k, v in cli_env.items() if k != "SCEAU_PIN"}
    r = cli(["auth-token", "--origin", "https://x.fr", "--nonce", NONCE, "--yes", *p11_opts(softhsm_module)], env)
    assert_clean_error(r, "USER_CANCELLED")


def test_refused_without_approval(cli_env: dict[str, str], softhsm_module: str) -> None:
    r = cli(["auth-token", "--origin", "https://x.fr", "--nonce", NONCE, *p11_opts(softhsm_module)], cli_env)
    assert_clean_error(r, "USER_CANCELLED")


def test_openssl_verifies_token_signatures(
    cli_env: dict[str, str], softhsm_module: str, pki: DevPki, tmp_path: Path
) -> None:
    """Independent check: `openssl pkeyutl -verify` on an RSA and an EC signature made by the token."""
    from sceau.protocol.auth_token import signed_fields
    from sceau.tokens.base import Digest

    for label in ("auth-rsa2048", "auth-ec256"):
        r = cli(
            ["auth-token", "--origin", "https://x.fr", "--nonce", NONCE, "--yes", *p11_opts(softhsm_module, label)],
            cli_env,
        )
        token = json.loads(r.stdout)
        sig = base64.b64decode(token["signature"])
        if label == "auth-ec256":  # raw r‖s → DER for openssl
            from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

            sig = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        data = tmp_path / f"{label}.bin"
        data.write_bytes(signed_fields("https://x.fr", NONCE, Digest.SHA256))
        sigf = tmp_path / f"{label}.sig"
        sigf.write_bytes(sig)
        pub = tmp_path / f"{label}.pub"
        subprocess.run(["openssl", "x509", "-in", pki[label].cert, "-pubkey", "-noout", "-out", str(pub)], check=True)
        verify = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin", "-digest", "sha256",
                  "-in", str(data), "-sigfile", str(sigf)]  # fmt: skip
        ok = subprocess.run(verify, capture_output=True, text=True)
        assert ok.returncode == 0 and "Success" in ok.stdout, ok.stdout + ok.stderr
        data.write_bytes(b"tampered" + data.read_bytes())
        assert subprocess.run(verify, capture_output=True, text=True).returncode != 0


def test_demo_round_trip(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}
    r = subprocess.run(
        [sys.executable, "-m", "sceau.cli", "--lang", "en", "demo", "--dir", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "validated the token" in r.stdout
