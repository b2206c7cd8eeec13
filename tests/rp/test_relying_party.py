"""Authentication tokens made by the real CLI (SoftHSM2 and PKCS#12) against the relying-party validator."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from sceau.devkit.pki import DevPki
from sceau_rp import AuthTokenError, AuthTokenValidator, NonceStore

ORIGIN = "https://marches.exemple.fr"


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sceau.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def make_token(
    cli_env: dict[str, str],
    softhsm_module: str,
    label: str,
    nonce: str,
    origin: str = ORIGIN,
    backend: str = "pkcs11",
    pki: DevPki | None = None,
    extra: list[str] | None = None,
) -> dict[str, str]:
    if backend == "pkcs11":
        opts = [
            "--pkcs11-module",
            softhsm_module,
            "--token-label",
            "Sceau Test",
            "--pin-env",
            "SCEAU_PIN",
            "--key-label",
            label,
        ]
    else:
        assert pki is not None
        opts = ["--pkcs12", pki[label].p12, "--password-env", "SCEAU_P12_PASSWORD"]
    r = cli(["auth-token", "--origin", origin, "--nonce", nonce, "--yes", *opts, *(extra or [])], cli_env)
    assert r.returncode == 0, r.stderr
    token: dict[str, str] = json.loads(r.stdout)
    return token


def validator(pki: DevPki, nonces: NonceStore, origin: str = ORIGIN) -> AuthTokenValidator:
    anchors = [x509.load_pem_x509_certificate(pki.root_ca.read_bytes())]
    inter = [x509.load_pem_x509_certificate(pki.intermediate_ca.read_bytes())]
    crls = [x509.load_pem_x509_crl(pki.crl.read_bytes())]
    return AuthTokenValidator(origin, anchors, intermediates=inter, nonces=nonces, crls=crls)


@pytest.mark.parametrize(
    ("backend", "label", "alg"),
    [
        ("pkcs11", "auth-rsa2048", "RS256"),
        ("pkcs11", "auth-ec256", "ES256"),
        ("pkcs11", "auth-rsa3072", "RS256"),
        ("pkcs12", "auth-rsa2048", "RS256"),
        ("pkcs12", "auth-ec256", "ES256"),
    ],
)
def test_token_validates(
    pki: DevPki, cli_env: dict[str, str], softhsm_module: str, backend: str, label: str, alg: str
) -> None:
    nonces = NonceStore()
    nonce = nonces.issue()
    token = make_token(cli_env, softhsm_module, label, nonce, backend=backend, pki=pki)
    assert set(token) == {"unverifiedCertificate", "algorithm", "signature", "format", "appVersion"}
    assert token["format"] == "web-eid:1.0" and token["algorithm"] == alg
    user = validator(pki, nonces).validate(token, nonce)
    assert user.certificate == pki.cert(label)
    assert user.organization_identifier.startswith("NTRFR-")


def test_pss_algorithm(pki: DevPki, cli_env: dict[str, str], softhsm_module: str) -> None:
    nonces = NonceStore()
    nonce = nonces.issue()
    token = make_token(cli_env, softhsm_module, "auth-rsa2048", nonce, extra=["--algorithm", "PS256"])
    assert token["algorithm"] == "PS256"
    validator(pki, nonces).validate(token, nonce)


def test_rejections(pki: DevPki, cli_env: dict[str, str], softhsm_module: str) -> None:
    nonces = NonceStore()
    nonce = nonces.issue()
    token = make_token(cli_env, softhsm_module, "auth-rsa2048", nonce)
    # Changed origin: the signature binds the origin.
    other = NonceStore()
    other._issued[nonce] = float("inf")
    with pytest.raises(AuthTokenError) as e:
        validator(pki, other, "https://evil.exemple.fr").validate(token, nonce)
    assert e.value.reason == "signature"
    # Changed nonce (issued, but not the one signed).
    nonce2 = nonces.issue()
    with pytest.raises(AuthTokenError) as e:
        validator(pki, nonces).validate(token, nonce2)
    assert e.value.reason == "signature"
    # Good once, then reuse refused.
    v = validator(pki, nonces)
    v.validate(token, nonce)
    with pytest.raises(AuthTokenError) as e:
        v.validate(token, nonce)
    assert e.value.reason == "nonce-unknown"


def test_expired_nonce(pki: DevPki, cli_env: dict[str, str], softhsm_module: str) -> None:
    now = [0.0]
    nonces = NonceStore(ttl_s=60, clock=lambda: now[0])
    nonce = nonces.issue()
    token = make_token(cli_env, softhsm_module, "auth-ec256", nonce)
    now[0] = 61
    with pytest.raises(AuthTokenError) as e:
        validator(pki, nonces).validate(token, nonce)
    assert e.value.reason == "nonce-expired"


@pytest.mark.parametrize(
    ("label", "reason"),
    [("auth-expired", "certificate-expired"), ("sign-rsa2048", "certificate-purpose"), ("auth-revoked", "revoked")],
)
def test_bad_certificates(pki: DevPki, cli_env: dict[str, str], softhsm_module: str, label: str, reason: str) -> None:
    nonces = NonceStore()
    nonce = nonces.issue()
    # The agent refuses a signature-only certificate for authentication: forge the token with it via PKCS#12.
    if label == "sign-rsa2048":
        from sceau.protocol.auth_token import AuthToken, signed_fields
        from sceau.tokens.base import Digest, SignScheme
        from sceau.tokens.softkeys import sign

        data = signed_fields(ORIGIN, nonce, Digest.SHA256)
        sig = sign(pki.key(label), data, SignScheme.RSA_PKCS1V15, Digest.SHA256, False)
        token = AuthToken(
            pki.cert(label).public_bytes(__import__("cryptography").hazmat.primitives.serialization.Encoding.DER),
            "RS256",
            sig,
            "x",
        ).to_json()
    else:
        token = make_token(cli_env, softhsm_module, label, nonce)
    with pytest.raises(AuthTokenError) as e:
        validator(pki, nonces).validate(token, nonce)
    assert e.value.reason == reason


def test_untrusted_chain(pki: DevPki, cli_env: dict[str, str], softhsm_module: str, tmp_path: Path) -> None:
    from sceau.devkit import pki as devpki

    other = devpki.generate(tmp_path / "other")
    nonces = NonceStore()
    nonce = nonces.issue()
    token = make_token(cli_env, softhsm_module, "auth-rsa2048", nonce)
    anchors = [x509.load_pem_x509_certificate(other.root_ca.read_bytes())]
    with pytest.raises(AuthTokenError) as e:
        AuthTokenValidator(ORIGIN, anchors, nonces=nonces).validate(token, nonce)
    assert e.value.reason == "untrusted"


def test_tampered_fields(pki: DevPki, cli_env: dict[str, str], softhsm_module: str) -> None:
    nonces = NonceStore()
    nonce = nonces.issue()
    token = make_token(cli_env, softhsm_module, "auth-rsa2048", nonce)
    for field, value in [
        ("format", "jwt"),
        ("algorithm", "HS256"),
        ("signature", "!!"),
        ("unverifiedCertificate", base64.b64encode(b"junk").decode()),
    ]:
        n2 = nonces.issue()
        with pytest.raises(AuthTokenError):
            validator(pki, nonces).validate({**token, field: value}, n2)


def test_cli_validate_token(pki: DevPki, cli_env: dict[str, str], softhsm_module: str, tmp_path: Path) -> None:
    nonce = base64.b64encode(os.urandom(32)).decode()
    token = make_token(cli_env, softhsm_module, "auth-ec256", nonce)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(token))
    base = [
        "validate-token",
        str(path),
        "--nonce",
        nonce,
        "--trust",
        str(pki.root_ca),
        "--intermediate",
        str(pki.intermediate_ca),
    ]
    assert cli([*base, "--origin", ORIGIN], cli_env).returncode == 0
    bad = cli([*base, "--origin", "https://autre.exemple.fr"], cli_env)
    assert bad.returncode == 1 and "signature" in bad.stderr
