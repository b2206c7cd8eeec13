"""The published Web eID authentication-token rules (web-eid-authtoken-validation-java, "Web eID
authentication token format"), implemented here for the tests only and independently of both the
agent and `sceau_rp`: a second opinion on every token the browser tests receive.

Rules: `format` is `web-eid:1` or `web-eid:1.x`; `appVersion` is an https URL; the certificate is
valid now, has the clientAuth extended key usage and chains to a trusted CA; `algorithm` is one of
the nine JWS names; the signature verifies over SHA(origin) ‖ SHA(nonce) with the algorithm's hash
(ES: raw r ‖ s, transcoded to DER for the check).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID

HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


class RuleBroken(AssertionError):
    pass


def check_token(token: dict[str, Any], *, origin: str, nonce: str, cas: list[x509.Certificate]) -> x509.Certificate:
    """The token's certificate when every rule holds; RuleBroken naming the first that does not."""
    fmt = token.get("format", "")
    if not (fmt == "web-eid:1" or str(fmt).startswith("web-eid:1.")):
        raise RuleBroken(f"format {fmt!r}")
    url = urlsplit(str(token.get("appVersion", "")))
    if url.scheme != "https" or not url.hostname:
        raise RuleBroken(f"appVersion {token.get('appVersion')!r}")
    cert = x509.load_der_x509_certificate(base64.b64decode(token["unverifiedCertificate"], validate=True))
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise RuleBroken("certificate not valid now")
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise RuleBroken("certificate purpose is not client authentication")
    _chain(cert, cas, now)
    alg = str(token.get("algorithm", ""))
    if alg[:2] not in ("RS", "PS", "ES") or alg[2:] not in HASH:
        raise RuleBroken(f"algorithm {alg!r}")
    h = HASH[alg[2:]]

    def digest(data: bytes) -> bytes:
        d = hashes.Hash(h())
        d.update(data)
        return d.finalize()

    signed = digest(origin.encode()) + digest(nonce.encode())
    sig = base64.b64decode(token["signature"], validate=True)
    key = cert.public_key()
    if alg.startswith("ES"):
        assert isinstance(key, ec.EllipticCurvePublicKey), "ES token with a non-EC key"
        n = len(sig) // 2
        key.verify(utils.encode_dss_signature(int.from_bytes(sig[:n]), int.from_bytes(sig[n:])), signed, ec.ECDSA(h()))
    else:
        assert isinstance(key, rsa.RSAPublicKey), "RS/PS token with a non-RSA key"
        pad = padding.PSS(padding.MGF1(h()), h().digest_size) if alg.startswith("PS") else padding.PKCS1v15()
        key.verify(sig, signed, pad, h())
    return cert


def _chain(cert: x509.Certificate, cas: list[x509.Certificate], now: dt.datetime) -> None:
    current = cert
    for _ in range(5):
        issuer = next((c for c in cas if c.subject == current.issuer), None)
        if issuer is None:
            raise RuleBroken("no trusted issuer")
        current.verify_directly_issued_by(issuer)
        if not issuer.not_valid_before_utc <= now <= issuer.not_valid_after_utc:
            raise RuleBroken("issuer not valid now")
        if issuer.subject == issuer.issuer:
            return
        current = issuer
    raise RuleBroken("chain too long")
