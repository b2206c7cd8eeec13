"""Certificate path validation for the relying-party kit, by pyhanko-certvalidator (RFC 5280: path
length and name constraints, key usage of the CAs, validity at the given time) with the platform's
CRLs checked for signature and freshness. Imports nothing from the agent."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, TypeVar

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InsufficientRevinfoError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    StaleRevinfoError,
)
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule

T = TypeVar("T")


class PathError(Exception):
    """`reason`: "untrusted", "revoked" or "revocation-unavailable" (a CRL was given for the issuer but
    none valid and fresh covers the certificate)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """The validator is async; the kit's API is not (platforms call it from sync and async code)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # inside a running loop: its own loop
        return pool.submit(asyncio.run, coro).result()


def validate_path(
    cert: x509.Certificate,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    moment: datetime,
) -> x509.Certificate:
    """Validate `cert`'s path to one of `anchors` at `moment`; return its issuer. When a CRL of the
    certificate's issuer is given, a valid and fresh CRL is required (a stale one fails)."""
    if not anchors:
        raise PathError("untrusted", "No trust anchor configured.")
    has_crl = any(c.issuer == cert.issuer for c in crls)
    policy = RevocationCheckingPolicy(
        ee_certificate_rule=RevocationCheckingRule.CRL_REQUIRED
        if has_crl
        else RevocationCheckingRule.CHECK_IF_DECLARED,
        intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED,
    )
    context = ValidationContext(
        trust_roots=[_asn1(a) for a in anchors],
        other_certs=[_asn1(c) for c in intermediates],
        crls=[c.public_bytes(Encoding.DER) for c in crls],
        moment=moment,
        allow_fetching=False,
        revinfo_policy=CertRevTrustPolicy(policy),
    )
    validator = CertificateValidator(_asn1(cert), validation_context=context)
    try:
        path = _run(validator.async_validate_path())
    except RevokedError:
        raise PathError("revoked", "The certificate is revoked.") from None
    except (StaleRevinfoError, InsufficientRevinfoError):
        raise PathError("revocation-unavailable", "No valid and fresh CRL covers the certificate.") from None
    except (PathBuildingError, PathValidationError) as exc:
        raise PathError("untrusted", f"Certificate chain not trusted: {str(exc)[:160]}") from None
    chain = list(path)  # anchor first, the certificate last
    issuer = chain[-2] if len(chain) >= 2 else chain[-1]
    return x509.load_der_x509_certificate(issuer.dump())
