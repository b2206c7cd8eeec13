"""`sceau demo --serve --https`: a server certificate for localhost issued by the demo PKI.

The demo's own browser profile is told to accept exactly this key (Chromium's
`--ignore-certificate-errors-spki-list`), never certificate errors in general.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sceau.devkit.pki import DevPki

VALIDITY = timedelta(days=30)


@dataclass(frozen=True)
class ServerCertificate:
    chain_pem: Path  # the certificate, then the demo intermediate CA
    key_pem: Path
    spki_sha256: str  # base64, for --ignore-certificate-errors-spki-list

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.chain_pem, self.key_pem)
        return ctx


def localhost_certificate(pki: DevPki, directory: Path) -> ServerCertificate:
    """Issue (each run, short-lived) a TLS certificate for localhost, 127.0.0.1 and ::1."""
    issuer = x509.load_pem_x509_certificate(pki.intermediate_ca.read_bytes())
    issuer_key = serialization.load_pem_private_key((pki.root / "intermediate-ca.key.pem").read_bytes(), None)
    if not isinstance(issuer_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TypeError("unexpected demo CA key type")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    san = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    chain = directory / "localhost-chain.pem"
    key_path = directory / "localhost-key.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + pki.intermediate_ca.read_bytes())
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ServerCertificate(chain, key_path, base64.b64encode(hashlib.sha256(spki).digest()).decode())
