"""Server-side validation of `web-eid:1.0` authentication tokens (for relying parties and tests).

Steps follow the Web eID validators: nonce issued by us, unexpired and single-use; token format;
certificate validity now; certificate purpose (authentication, not signature); chain to the
configured trust anchors; optional revocation (CRLs given, or an OCSP callback); and the
signature over hash(origin) ‖ hash(nonce) for *our* origin.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from sceau.protocol.auth_token import ALGORITHMS, TOKEN_FORMAT, signed_fields
from sceau.protocol.codes import Role
from sceau.protocol.origin import normalize_origin
from sceau.tokens.base import SignScheme, roles_of

NONCE_BYTES = 32
DEFAULT_NONCE_TTL_S = 300.0


class AuthTokenError(Exception):
    """The token is not acceptable; `reason` is a stable machine-readable word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NonceStore:
    """Issued challenge nonces: random, expiring, usable once (thread-safe, in memory)."""

    def __init__(self, ttl_s: float = DEFAULT_NONCE_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._issued: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        nonce = base64.b64encode(secrets.token_bytes(NONCE_BYTES)).decode()
        with self._lock:
            now = self._clock()
            self._issued = {n: t for n, t in self._issued.items() if t > now}
            self._issued[nonce] = now + self.ttl_s
        return nonce

    def consume(self, nonce: str) -> None:
        """Accept `nonce` once; raise if unknown, reused or expired."""
        with self._lock:
            expiry = self._issued.pop(nonce, None)
        if expiry is None:
            raise AuthTokenError("nonce-unknown", "Challenge nonce unknown or already used.")
        if expiry <= self._clock():
            raise AuthTokenError("nonce-expired", "Challenge nonce expired.")


@dataclass(frozen=True)
class ValidatedUser:
    certificate: x509.Certificate
    common_name: str
    organization: str
    organization_identifier: str
    algorithm: str


OcspCheck = Callable[[x509.Certificate, x509.Certificate], bool]  # (cert, issuer) → not revoked


class AuthTokenValidator:
    """Validates tokens for one site origin against trust anchors."""

    def __init__(
        self,
        site_origin: str,
        trust_anchors: Sequence[x509.Certificate],
        *,
        intermediates: Sequence[x509.Certificate] = (),
        nonces: NonceStore | None = None,
        crls: Sequence[x509.CertificateRevocationList] = (),
        ocsp_check: OcspCheck | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        allow_http_localhost: bool = False,
    ) -> None:
        self.origin = normalize_origin(site_origin, dev_mode=allow_http_localhost)
        self.anchors = list(trust_anchors)
        self.intermediates = list(intermediates)
        self.nonces = nonces or NonceStore()
        self.crls = list(crls)
        self.ocsp_check = ocsp_check
        self.clock = clock

    def validate(self, token: dict[str, Any], nonce: str) -> ValidatedUser:
        self.nonces.consume(nonce)
        if not isinstance(token, dict):
            raise AuthTokenError("format", "Token must be a JSON object.")
        fmt = token.get("format")
        if not isinstance(fmt, str) or not (fmt == TOKEN_FORMAT or fmt.startswith("web-eid:1.")):
            raise AuthTokenError("format", "Unsupported token format.")
        alg = token.get("algorithm")
        if alg not in ALGORITHMS:
            raise AuthTokenError("algorithm", "Unsupported signature algorithm.")
        cert = _load_cert(token.get("unverifiedCertificate"))
        signature = _b64(token.get("signature"), "signature")
        now = self.clock()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise AuthTokenError("certificate-expired", "The certificate is not valid at this date.")
        if Role.AUTH not in roles_of(cert):
            raise AuthTokenError("certificate-purpose", "The certificate is not an authentication certificate.")
        issuer = self._verify_chain(cert, now)
        self._check_revocation(cert, issuer)
        self._verify_signature(cert, str(alg), signature, nonce)
        return ValidatedUser(
            cert,
            _attr(cert, x509.NameOID.COMMON_NAME),
            _attr(cert, x509.NameOID.ORGANIZATION_NAME),
            _attr(cert, x509.NameOID.ORGANIZATION_IDENTIFIER),
            str(alg),
        )

    def _verify_chain(self, cert: x509.Certificate, now: datetime) -> x509.Certificate:
        """Path to an anchor through the given intermediates; returns the certificate's issuer.

        RGS personal certificates carry no subjectAltName, so the web-PKI client verifier of
        `cryptography` does not apply; the checks here are RFC 5280's basic path validation."""
        if not self.anchors:
            raise AuthTokenError("untrusted", "No trust anchor configured.")
        current = cert
        issuer_of_cert: x509.Certificate | None = None
        for _depth in range(8):
            if any(current == a for a in self.anchors):
                return issuer_of_cert or current
            candidates = [c for c in (*self.anchors, *self.intermediates) if c.subject == current.issuer]
            parent = next((c for c in candidates if _issued_by(current, c)), None)
            if parent is None:
                raise AuthTokenError("untrusted", "Certificate chain not trusted: no known issuer.")
            if not _is_ca(parent) or not parent.not_valid_before_utc <= now <= parent.not_valid_after_utc:
                raise AuthTokenError("untrusted", "Certificate chain not trusted: invalid CA certificate.")
            if issuer_of_cert is None:
                issuer_of_cert = parent
            if any(parent == a for a in self.anchors):
                return issuer_of_cert
            current = parent
        raise AuthTokenError("untrusted", "Certificate chain too long.")

    def _check_revocation(self, cert: x509.Certificate, issuer: x509.Certificate) -> None:
        for crl in self.crls:
            if crl.issuer == cert.issuer and crl.get_revoked_certificate_by_serial_number(cert.serial_number):
                raise AuthTokenError("revoked", "The certificate is revoked.")
        if self.ocsp_check is not None and not self.ocsp_check(cert, issuer):
            raise AuthTokenError("revoked", "The certificate is revoked (OCSP).")

    def _verify_signature(self, cert: x509.Certificate, alg: str, signature: bytes, nonce: str) -> None:
        scheme, digest = ALGORITHMS[alg]
        data = signed_fields(self.origin, nonce, digest)
        key = cert.public_key()
        try:
            if scheme is SignScheme.ECDSA:
                if not isinstance(key, ec.EllipticCurvePublicKey) or len(signature) % 2:
                    raise InvalidSignature
                half = len(signature) // 2
                der = utils.encode_dss_signature(
                    int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
                )
                key.verify(der, data, ec.ECDSA(digest.hash()))
            elif isinstance(key, rsa.RSAPublicKey):
                pad: padding.AsymmetricPadding = (
                    padding.PKCS1v15()
                    if scheme is SignScheme.RSA_PKCS1V15
                    else padding.PSS(padding.MGF1(digest.hash()), digest.size)
                )
                key.verify(signature, data, pad, digest.hash())
            else:
                raise InvalidSignature
        except InvalidSignature:
            raise AuthTokenError("signature", "The token signature does not verify for this site and nonce.") from None


def _b64(value: object, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise AuthTokenError("format", f"Missing '{name}'.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise AuthTokenError("format", f"'{name}' is not base64.") from None


def _load_cert(value: object) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(_b64(value, "unverifiedCertificate"))
    except ValueError:
        raise AuthTokenError("format", "'unverifiedCertificate' is not a certificate.") from None


def _attr(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    attrs = cert.subject.get_attributes_for_oid(oid)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not bc.ca:
        return False
    try:
        return bool(cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign)
    except x509.ExtensionNotFound:
        return True
