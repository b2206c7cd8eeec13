"""Helpers of the demo platform tests (a unique module name: several test folders have a conftest)."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from sceau.devkit.pki import DevPki
from sceau.protocol.auth_token import signed_fields
from sceau.tokens.base import Digest

ORIGIN = "http://localhost:8080"  # what the browser would send; the test client talks to another port

Login = Callable[[TestClient, str], Awaitable[Any]]


def make_auth_token(pki: DevPki, identity: str, origin: str, nonce: str) -> dict[str, str]:
    """A web-eid:1.0 token as the agent returns it, signed with the identity's (test) key."""
    key = pki.key(identity)
    data = signed_fields(origin, nonce, Digest.SHA256)
    if isinstance(key, rsa.RSAPrivateKey):
        sig, alg = key.sign(data, padding.PKCS1v15(), hashes.SHA256()), "RS256"
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        sig, alg = r.to_bytes(32, "big") + s.to_bytes(32, "big"), "ES256"
    cert = pki.cert(identity).public_bytes(serialization.Encoding.DER)
    return {
        "unverifiedCertificate": base64.b64encode(cert).decode(),
        "algorithm": alg,
        "signature": base64.b64encode(sig).decode(),
        "format": "web-eid:1.0",
        "appVersion": "test",
    }


def run(cmd: list[str], cwd: Path | None = None, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, check=False, **kw)
