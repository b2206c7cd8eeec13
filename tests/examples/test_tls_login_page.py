"""The demo's TLS client-certificate login server: the handshake needs a certificate of the demo PKI.

The client here is Python's `ssl` with the identity's key file (the server side under test); the
browsers reach the token itself in tests/e2e/test_chromium_tls_login.py and test_firefox_tls_login.py.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from examples.platform.tls_login import TlsLoginServer
from sceau.devkit.pki import DevPki


@pytest.fixture(scope="module")
def server(pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsLoginServer]:
    s = TlsLoginServer(pki, tmp_path_factory.mktemp("tls-login"))
    s.start()
    try:
        yield s
    finally:
        s.stop()


def get(server: TlsLoginServer, pki: DevPki, cert: Path | None = None, key: Path | None = None) -> str:
    ctx = ssl.create_default_context(cafile=str(pki.root_ca))
    if cert and key:
        ctx.load_cert_chain(cert, key)
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    return data.decode()


def test_certificate_of_the_demo_pki_logs_in(server: TlsLoginServer, pki: DevPki, tmp_path: Path) -> None:
    ident = pki["auth-rsa2048"]
    chain = tmp_path / "chain.pem"
    chain.write_bytes(Path(ident.cert).read_bytes() + pki.intermediate_ca.read_bytes())
    page = get(server, pki, chain, Path(ident.key_pem))
    assert "200 OK" in page and "Bienvenue, Marie Durand." in page
    assert "Usage « authentification client »</th><td>oui" in page
    assert server.seen[-1] == pki.cert("auth-rsa2048").public_bytes(serialization.Encoding.DER)


def refused(server: TlsLoginServer, pki: DevPki, cert: Path | None = None, key: Path | None = None) -> bool:
    """TLS 1.3: the client finishes its side first, then reads the server's alert (or nothing)."""
    try:
        return "HTTP/1.1" not in get(server, pki, cert, key)
    except (ssl.SSLError, ConnectionError):
        return True


def test_no_certificate_or_foreign_ca_is_refused(server: TlsLoginServer, pki: DevPki, tmp_path: Path) -> None:
    seen = len(server.seen)
    assert refused(server, pki)
    # A self-made certificate with the same name: the chain does not lead to the demo CA.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Marie Durand")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    assert refused(server, pki, tmp_path / "c.pem", tmp_path / "k.pem")
    assert len(server.seen) == seen


async def test_platform_links_to_the_tls_login(client: TestClient) -> None:
    page = await (await client.get("/connexion")).text()
    assert 'href="/connexion-tls"' in page
    # No TLS login server given to this app: a clear page, not a broken redirect.
    resp = await client.get("/connexion-tls", allow_redirects=False)
    assert resp.status == 404 and "TLS" in await resp.text()
