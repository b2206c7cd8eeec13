"""Build-item 10: the relying-party validator checks certificate paths with pyhanko-certvalidator —
path length and name constraints, CA key usage, CRL signature and freshness — instead of its own walk.
The tokens here are built from the Web eID format with throw-away keys (the agent's own tokens are
checked by tests/rp); what is under test is the path the platform accepts."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sceau_rp import AuthTokenError, AuthTokenValidator, NonceStore

ORIGIN = "https://marches.example.fr"
NOW = datetime.now(UTC)


def name(cn: str, org: str = "Sceau Test") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    path_length: int | None = None,
    permitted: list[x509.GeneralName] | None = None,
    cert_sign: bool = True,
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(True, False, False, False, False, cert_sign, True, False, False), critical=True
        )
        if permitted:
            b = b.add_extension(
                x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None), critical=True
            )
    else:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def token(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, nonce: str) -> dict[str, str]:
    data = hashlib.sha256(ORIGIN.encode()).digest() + hashlib.sha256(nonce.encode()).digest()
    r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return {
        "format": "web-eid:1.0",
        "algorithm": "ES256",
        "unverifiedCertificate": base64.b64encode(cert.public_bytes(Encoding.DER)).decode(),
        "signature": base64.b64encode(raw).decode(),
    }


def keys(n: int) -> list[ec.EllipticCurvePrivateKey]:
    return [ec.generate_private_key(ec.SECP256R1()) for _ in range(n)]


def check(
    root: x509.Certificate,
    inter: list[x509.Certificate],
    ee: x509.Certificate,
    ee_key: ec.EllipticCurvePrivateKey,
    **kw: object,
) -> None:
    nonces = NonceStore()
    nonce = nonces.issue()
    validator = AuthTokenValidator(ORIGIN, [root], intermediates=inter, nonces=nonces, **kw)  # type: ignore[arg-type]
    validator.validate(token(ee, ee_key, nonce), nonce)


def test_a_good_three_level_path_is_accepted() -> None:
    rk, ik, ek = keys(3)
    root = issue(name("Racine"), rk, name("Racine"), rk, ca=True)
    inter = issue(name("Intermédiaire"), ik, root.subject, rk, ca=True, path_length=0)
    ee = issue(name("Marie Durand"), ek, inter.subject, ik, ca=False)
    check(root, [inter], ee, ek)


def test_path_length_constraint_is_enforced() -> None:
    rk, ik, sk, ek = keys(4)
    root = issue(name("Racine"), rk, name("Racine"), rk, ca=True)
    inter = issue(name("Intermédiaire"), ik, root.subject, rk, ca=True, path_length=0)  # no sub-CA allowed
    sub = issue(name("Sous-AC"), sk, inter.subject, ik, ca=True)
    ee = issue(name("Marie Durand"), ek, sub.subject, sk, ca=False)
    with pytest.raises(AuthTokenError) as err:
        check(root, [inter, sub], ee, ek)
    assert err.value.reason == "untrusted"


def test_name_constraints_are_enforced() -> None:
    rk, ik, ek = keys(3)
    root = issue(name("Racine"), rk, name("Racine"), rk, ca=True)
    only = [x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Autre Organisation")]))]
    inter = issue(name("Intermédiaire"), ik, root.subject, rk, ca=True, permitted=only)
    ee = issue(name("Marie Durand", org="Sceau Test"), ek, inter.subject, ik, ca=False)
    with pytest.raises(AuthTokenError) as err:
        check(root, [inter], ee, ek)
    assert err.value.reason == "untrusted"


def test_a_stale_crl_is_not_trusted() -> None:
    rk, ik, ek = keys(3)
    root = issue(name("Racine"), rk, name("Racine"), rk, ca=True)
    inter = issue(name("Intermédiaire"), ik, root.subject, rk, ca=True)
    ee = issue(name("Marie Durand"), ek, inter.subject, ik, ca=False)
    stale = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(inter.subject)
        .last_update(NOW - timedelta(days=20))
        .next_update(NOW - timedelta(days=10))
        .sign(ik, hashes.SHA256())
    )
    with pytest.raises(AuthTokenError) as err:
        check(root, [inter], ee, ek, crls=[stale])
    assert err.value.reason == "revocation-unavailable"
    fresh = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(inter.subject)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=7))
        .sign(ik, hashes.SHA256())
    )
    check(root, [inter], ee, ek, crls=[fresh])


def test_a_crl_not_signed_by_the_issuer_is_ignored_not_believed() -> None:
    rk, ik, ek, forger = keys(4)
    root = issue(name("Racine"), rk, name("Racine"), rk, ca=True)
    inter = issue(name("Intermédiaire"), ik, root.subject, rk, ca=True)
    ee = issue(name("Marie Durand"), ek, inter.subject, ik, ca=False)
    forged = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(inter.subject)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=7))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(ee.serial_number).revocation_date(NOW).build()
        )
        .sign(forger, hashes.SHA256())
    )
    with pytest.raises(AuthTokenError) as err:
        check(root, [inter], ee, ek, crls=[forged])
    assert err.value.reason == "revocation-unavailable"  # not "revoked" on a forger's word, not accepted either
