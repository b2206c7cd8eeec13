"""The demo platform lives in examples/ (not an installed package): import it from the source tree."""

# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import base64
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from examples.platform import create_app
from sceau.devpki import DevPki
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
    return {"unverifiedCertificate": base64.b64encode(cert).decode(), "algorithm": alg,
            "signature": base64.b64encode(sig).decode(), "format": "web-eid:1.0", "appVersion": "test"}


@pytest.fixture
async def client(pki: DevPki, tmp_path: Path) -> AsyncIterator[TestClient]:
    app = create_app(pki, origin=ORIGIN, storage=tmp_path / "plis")
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture
def login(pki: DevPki) -> Login:
    async def do(client: TestClient, identity: str) -> Any:
        nonce = (await (await client.post("/api/defi")).json())["nonce"]
        resp = await client.post("/api/connexion", json={"nonce": nonce, "token": make_auth_token(pki, identity, ORIGIN, nonce)})
        assert resp.status == 200, await resp.text()
        return (await resp.json())["user"]

    return do


def run(cmd: list[str], cwd: Path | None = None, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, check=False, **kw)
