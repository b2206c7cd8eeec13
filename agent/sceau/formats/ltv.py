"""Validation data for B-LT: the certificate chain and CRL / OCSP answers, fetched once.

Path building and fetching go through pyhanko-certvalidator (the URLs come from the
certificates' CRL distribution points and AIA OCSP entries). When nothing can be obtained,
B-LT fails with a clear message rather than silently producing a weaker level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from sceau.errors import InvalidInput
from sceau.i18n import _


@dataclass
class ValidationData:
    certificates: list[bytes] = field(default_factory=list)
    crls: list[bytes] = field(default_factory=list)
    ocsps: list[bytes] = field(default_factory=list)

    def merge(self, other: ValidationData) -> None:
        for mine, theirs in (
            (self.certificates, other.certificates),
            (self.crls, other.crls),
            (self.ocsps, other.ocsps),
        ):
            for item in theirs:
                if item not in mine:
                    mine.append(item)


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


async def close_backend(backend: AIOHttpFetcherBackend | None) -> None:
    """Close the fetchers' HTTP session (pyHanko leaves that to the caller)."""
    if backend is not None:
        await backend.close()  # type: ignore[no-untyped-call]


def load_anchors(paths: Sequence[str]) -> list[x509.Certificate]:
    """Trust anchors from PEM files (several certificates per file allowed)."""
    out: list[x509.Certificate] = []
    for p in paths:
        try:
            out.extend(x509.load_pem_x509_certificates(Path(p).read_bytes()))
        except (OSError, ValueError):
            raise InvalidInput(_("Cannot read the trust anchors in {path}.").format(path=p)) from None
    return out


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def split_anchors(anchors: Sequence[x509.Certificate]) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """Configured trust anchors → (roots, intermediates).

    `trust_anchors` files often hold a whole chain (root + intermediate); only self-signed
    certificates are trusted, the others only help to build paths and to complete signatures.
    """
    roots = [c for c in anchors if is_self_signed(c)]
    return roots, [c for c in anchors if not is_self_signed(c)]


def _roots(chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    roots = split_anchors(anchors)[0]
    if roots:
        return roots
    # Without configured anchors, the chain's self-signed certificate closes the path: B-LT embeds
    # evidence, it does not judge trust (verification does, against configured anchors).
    return [c for c in chain if is_self_signed(c)]


def make_context(
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    fetch: bool,
    crls: Sequence[bytes] = (),
    ocsps: Sequence[bytes] = (),
    mode: str = "hard-fail",
    backend: AIOHttpFetcherBackend | None = None,
) -> ValidationContext:
    return ValidationContext(
        trust_roots=[_asn1(c) for c in _roots(chain, anchors)],
        other_certs=[_asn1(c) for c in [*chain, *split_anchors(anchors)[1]]],
        allow_fetching=fetch,
        crls=list(crls),
        ocsps=list(ocsps),
        revocation_mode=mode,
        fetcher_backend=backend,
    )


async def collect(
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate] = (),
    *,
    timeout: float = 10.0,
) -> ValidationData:
    """Chain and revocation answers for `leaf`, fetched from the URLs in the certificates."""
    backend = AIOHttpFetcherBackend(per_request_timeout=int(timeout))
    vc = make_context([leaf, *chain], anchors, fetch=True, backend=backend)
    validator = CertificateValidator(_asn1(leaf), [_asn1(c) for c in chain], validation_context=vc)
    try:
        path = await validator.async_validate_path()
    except (PathBuildingError, PathValidationError, ValidationError) as exc:
        raise InvalidInput(
            _("B-LT needs revocation information for {name}, which could not be obtained: {err}").format(
                name=leaf.subject.rfc4514_string(), err=str(exc)[:200]
            )
        ) from None
    finally:
        await close_backend(backend)
    data = ValidationData()
    for cert in path:
        der = cert.dump()
        if der not in data.certificates:
            data.certificates.append(der)
    data.crls = [c.dump() for c in vc.crls]
    data.ocsps = [o.dump() for o in vc.ocsps]
    if not data.crls and not data.ocsps:
        raise InvalidInput(_("B-LT needs revocation information, and none could be obtained."))
    return data


def build_chain(leaf: x509.Certificate, pool: Sequence[x509.Certificate], limit: int = 8) -> list[x509.Certificate]:
    """Issuers of `leaf` found in `pool` (token certificates, configured anchors), leaf excluded.

    Tokens often hold only the end-entity certificate; the signature should still carry the
    intermediate so verifiers can build the path.
    """
    chain: list[x509.Certificate] = []
    current = leaf
    for _step in range(limit):
        if is_self_signed(current):
            break
        issuer = next(
            (
                c
                for c in pool
                if c.subject == current.issuer and c not in chain and c != current and _issued_by(current, c)
            ),
            None,
        )
        if issuer is None:
            break
        chain.append(issuer)
        current = issuer
    return chain


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """The signature check, not only the name: two CAs may share a name (renewed keys)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
