"""Server-side validation of `web-eid:1.0` authentication tokens (for relying parties and tests).

This kit imports nothing from the agent: it is what a platform installs, and an implementation of the
Web eID token format written from the specification, so the tests check the agent's tokens with code
that shares none of the agent's signing-side definitions.

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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID

from sceau_rp.paths import PathError, validate_path

if TYPE_CHECKING:
    from sceau_rp.nonces import NonceBackend

NONCE_BYTES = 32
DEFAULT_NONCE_TTL_S = 300.0
TOKEN_FORMAT = "web-eid:1.0"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
# JWS algorithm names the Web eID token may carry: RS (PKCS#1 v1.5), PS (PSS), ES (ECDSA, raw r ‖ s).
ALGORITHMS = frozenset(f"{family}{bits}" for family in ("RS", "PS", "ES") for bits in _HASHES)
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


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
        nonces: NonceBackend | None = None,  # NonceStore (memory) by default; RedisNonceStore
        crls: Sequence[x509.CertificateRevocationList] = (),
        ocsp_check: OcspCheck | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        allow_http_localhost: bool = False,
    ) -> None:
        self.origin = site_origin_of(site_origin, allow_http_localhost=allow_http_localhost)
        self.anchors = list(trust_anchors)
        self.intermediates = list(intermediates)
        self.nonces: NonceBackend = nonces or NonceStore()
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
        if not is_authentication_certificate(cert):
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
        """Path to an anchor through the given intermediates (pyhanko-certvalidator: RFC 5280 path
        validation, with the CRLs given checked for signature and freshness); returns the issuer."""
        try:
            return validate_path(cert, self.anchors, self.intermediates, self.crls, now)
        except PathError as exc:
            raise AuthTokenError(exc.reason, exc.message) from None

    def _check_revocation(self, cert: x509.Certificate, issuer: x509.Certificate) -> None:
        """The CRLs were checked with the path; an OCSP callback, when given, has the last word."""
        if self.ocsp_check is not None and not self.ocsp_check(cert, issuer):
            raise AuthTokenError("revoked", "The certificate is revoked (OCSP).")

    def _verify_signature(self, cert: x509.Certificate, alg: str, signature: bytes, nonce: str) -> None:
        family, hash_cls = alg[:2], _HASHES[alg[2:]]
        # The token signs hash(origin) ‖ hash(nonce), both UTF-8, hashed with the algorithm's hash.
        data = _hash(hash_cls, self.origin.encode("utf-8")) + _hash(hash_cls, nonce.encode("utf-8"))
        key = cert.public_key()
        try:
            if family == "ES":
                if not isinstance(key, ec.EllipticCurvePublicKey) or len(signature) % 2:
                    raise InvalidSignature
                half = len(signature) // 2
                der = utils.encode_dss_signature(
                    int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
                )
                key.verify(der, data, ec.ECDSA(hash_cls()))
            elif isinstance(key, rsa.RSAPublicKey):
                pad: padding.AsymmetricPadding = padding.PKCS1v15()
                if family == "PS":
                    pad = padding.PSS(padding.MGF1(hash_cls()), hash_cls().digest_size)
                key.verify(signature, data, pad, hash_cls())
            else:
                raise InvalidSignature
        except InvalidSignature:
            raise AuthTokenError("signature", "The token signature does not verify for this site and nonce.") from None


def site_origin_of(origin: str, *, allow_http_localhost: bool = False) -> str:
    """The platform's own origin, canonical (`https://host[:port]`, lower case, default port dropped)."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        raise ValueError(f"Not a site origin: {origin!r}") from None
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    if parts.path or parts.query or parts.fragment or parts.username is not None or not host:
        raise ValueError(f"Not a site origin: {origin!r}")
    if scheme != "https" and not (allow_http_localhost and scheme == "http" and host in _LOCAL_HOSTS):
        raise ValueError(f"The site origin must use https: {origin!r}")
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def is_authentication_certificate(cert: x509.Certificate) -> bool:
    """A certificate for client authentication: keyUsage digitalSignature without nonRepudiation (the
    RGS / eIDAS authentication profile), or EKU clientAuth; an EKU that names neither clientAuth nor
    anyExtendedKeyUsage excludes authentication."""
    try:
        ku: x509.KeyUsage | None = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    try:
        eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return ku is None or (ku.digital_signature and not ku.content_commitment)
    if ExtendedKeyUsageOID.CLIENT_AUTH in eku:
        return ku is None or ku.digital_signature
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        return ku is None or (ku.digital_signature and not ku.content_commitment)
    return False


def _hash(hash_cls: type[hashes.HashAlgorithm], data: bytes) -> bytes:
    h = hashes.Hash(hash_cls())
    h.update(data)
    return h.finalize()


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
