"""Local verification of signed files: detect the format, check integrity, signature, chain, time.

CAdES and PAdES go through pyHanko's validators (CMS signature, time-stamp, PDF difference
analysis); XAdES / PES through `xmlverify`. Trust is judged against the configured anchors;
revocation uses the data embedded in the file, plus fetching when `online` is set. Without
network, a missing revocation answer is reported as "offline", not as a failure.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.diff_analysis.policy_api import ModificationLevel
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_detached_cms, async_validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from sceau.errors import BadRequest, InvalidInput, TooLarge
from sceau.formats import cmsutil
from sceau.formats.ltv import close_backend, split_anchors
from sceau.formats.report import Revocation, SignatureReport, VerifyReport, has_revocation_pointers
from sceau.i18n import _
from sceau.trust.decide import TrustLists, evaluate

MAX_VERIFY = 512 * 1024 * 1024
KEY_USAGE = KeyUsageConstraints(key_usage=set(), match_all_key_usages=False)


@dataclass
class VerifyOptions:
    # The configured anchors: self-signed ones are trusted, the others (intermediates) only help
    # to build paths (ltv.split_anchors).
    anchors: Sequence[x509.Certificate] = ()
    online: bool = False  # fetch CRL / OCSP from the URLs in certificates
    detached: bytes | None = None  # the signed document, for detached CAdES / XAdES
    detached_name: str = ""
    lists: TrustLists | None = None  # cached EU trusted lists: anchors and the level of each signature


def trust_roots(opts: VerifyOptions, chain: Sequence[asn1_x509.Certificate] = ()) -> list[x509.Certificate]:
    """The trusted roots: the configured self-signed anchors, then the trusted lists' CA services
    that issued (or are) a certificate of `chain`."""
    listed = []
    if opts.lists is not None:
        names = [n.dump() for c in chain for n in (c.issuer, c.subject)]
        listed = opts.lists.anchors_for(names)
    return [*split_anchors(opts.anchors)[0], *listed]


_PKCS7_ARC = bytes.fromhex("2a864886f70d0107")  # 1.2.840.113549.1.7: the CMS content types


def is_content_info(data: bytes) -> bool:
    """Whether `data` starts like a CMS ContentInfo: a DER/BER SEQUENCE whose first element is
    a PKCS#7 content-type OID (signedData, envelopedData...)."""
    if len(data) < 13 or data[0] != 0x30:
        return False
    first = data[1]
    if first <= 0x80:  # short form, or BER indefinite length (streamed CMS)
        i = 2
    elif first - 0x80 <= 4:
        i = 2 + first - 0x80
    else:
        return False
    return data[i : i + 2] == b"\x06\x09" and data[i + 2 : i + 10] == _PKCS7_ARC


def detect(data: bytes) -> str:
    """The format: "pdf", "xml" or "cms", by structure first. A CMS file wrapping a PDF (attached
    signature) carries "%PDF-" in its first bytes but is not a PDF."""
    if is_content_info(data):
        return "cms"
    if data.startswith(b"%PDF-"):
        return "pdf"
    head = data[:1024].lstrip(b"\xef\xbb\xbf\r\n\t ")
    if head.startswith(b"-----BEGIN"):
        return "cms"
    if head.startswith(b"<") or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "xml"
    # Readers (Acrobat, poppler) accept bytes before the header within the first 1024 bytes.
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data[:1] == b"\x30":
        return "cms"  # some other DER: _load_cms says what is wrong with it
    raise InvalidInput(_("Unknown file format: not a PDF, XML or CMS signature."))


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return cmsutil.asn1_from_crypto(cert)


def make_vc(
    opts: VerifyOptions,
    *,
    others: Sequence[asn1_x509.Certificate] = (),
    crls: Sequence[object] = (),
    ocsps: Sequence[object] = (),
    mode: str,
    backend: AIOHttpFetcherBackend | None = None,
    moment: datetime | None = None,
    leaf: asn1_x509.Certificate | None = None,  # when not among `others`: names the list anchors too
) -> ValidationContext:
    intermediates = split_anchors(opts.anchors)[1]
    return ValidationContext(
        trust_roots=[_asn1(c) for c in trust_roots(opts, [*others, *([leaf] if leaf else [])])],
        other_certs=[*others, *(_asn1(c) for c in intermediates)],
        crls=list(crls),
        ocsps=list(ocsps),
        allow_fetching=opts.online,
        revocation_mode=mode,
        fetcher_backend=backend,
        best_signature_time=moment,
    )


def _trust_from_status(report: SignatureReport, status: object, opts: VerifyOptions, soft: bool) -> None:
    """Fill trust / revocation fields from a pyHanko status (soft: second pass without revocation)."""
    indic = getattr(status, "trust_problem_indic", None)
    if getattr(status, "revoked", False) or indic in (AdESFailure.REVOKED, AdESIndeterminate.REVOKED_NO_POE):
        report.revocation = Revocation.REVOKED
        report.trust_reason = "the certificate is revoked"
        return
    if indic is None and getattr(status, "trusted", False):
        report.trusted = True
        report.revocation = (Revocation.OFFLINE if not opts.online else Revocation.UNKNOWN) if soft else Revocation.GOOD
        return
    if not split_anchors(opts.anchors)[0] and opts.lists is None:
        report.trust_reason = "no trust anchor is configured"
    elif indic in (
        AdESIndeterminate.EXPIRED,
        AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
        AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
    ):
        report.trust_reason = "the certificate has expired"
    elif indic is AdESIndeterminate.NOT_YET_VALID:
        report.trust_reason = "the certificate is not yet valid"
    elif indic is AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND:
        report.trust_reason = "no chain to a trusted certification authority"
    else:
        report.trust_reason = "the certificate chain could not be validated"


def _needs_soft_pass(status: object) -> bool:
    """Untrusted with hard-fail revocation: maybe only revocation data was missing; retry soft-fail."""
    return not getattr(status, "trusted", False) and not getattr(status, "revoked", False)


def _cert_validity(report: SignatureReport, cert: asn1_x509.Certificate | None, when: datetime | None) -> None:
    if cert is None:
        return
    c = cmsutil.to_crypto(cert)
    report.signer_certificate = c
    report.signer = _cn(c.subject) or c.subject.rfc4514_string()
    report.issuer = _cn(c.issuer) or c.issuer.rfc4514_string()
    at = when or datetime.now(UTC)
    report.cert_valid_at_signing = c.not_valid_before_utc <= at <= c.not_valid_after_utc
    if not report.cert_valid_at_signing:
        report.problems.append("The certificate was not valid at the signing time.")


def _no_pointers(report: SignatureReport) -> None:
    """A path that passed "hard-fail" without any CRL/OCSP service named was not revocation-checked."""
    cert = report.signer_certificate
    if report.revocation is Revocation.GOOD and cert is not None and not has_revocation_pointers(cert):
        report.revocation = Revocation.NONE


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _fill_common(report: SignatureReport, status: object) -> None:
    report.integrity = bool(getattr(status, "intact", False))
    report.signature_valid = bool(getattr(status, "valid", False))
    report.claimed_time = getattr(status, "signer_reported_dt", None)
    ts = getattr(status, "timestamp_validity", None)
    if ts is not None:
        report.timestamp = ts.timestamp
        report.timestamp_valid = bool(ts.intact and ts.valid)
        report.level = "B-T"


# -- CAdES -----------------------------------------------------------------------------------------
def _load_cms(data: bytes) -> cms.SignedData:
    if data.lstrip().startswith(b"-----BEGIN"):
        import base64

        body = b"".join(line for line in data.splitlines() if line and not line.startswith(b"-----"))
        data = base64.b64decode(body)
    try:
        info = cms.ContentInfo.load(data)
        if info["content_type"].native != "signed_data":
            raise InvalidInput(_("This CMS file is not a signature."))
        sd: cms.SignedData = info["content"]
        sd["signer_infos"][0]["signature"].native  # noqa: B018 - forces parsing now
    except (ValueError, KeyError, TypeError, IndexError):
        raise InvalidInput(_("The signature file is damaged or not a CMS signature.")) from None
    return sd


def encapsulated_content(sd: cms.SignedData) -> bytes | None:
    """The document inside an attached signature (None: detached)."""
    eci = sd["encap_content_info"]
    try:
        if eci["content"] is core.VOID or eci["content"].contents is None:
            return None
        return bytes(eci["content"])  # BER chunks (streamed signatures) are joined
    except (ValueError, TypeError):
        raise InvalidInput(_("The signature file is damaged or not a CMS signature.")) from None


def _without_content(sd: cms.SignedData) -> cms.SignedData:
    """The same SignedData with its content removed: pyHanko validates signatures against content
    given separately, and refuses a SignedData that also encapsulates it. The signer infos
    (signed attributes, signature) are kept byte for byte."""
    detached = sd.copy()
    detached["encap_content_info"] = {"content_type": sd["encap_content_info"]["content_type"].dotted}
    return detached


async def verify_signed_data(sd: cms.SignedData, opts: VerifyOptions) -> list[SignatureReport]:
    content = encapsulated_content(sd)
    if content is None and opts.detached is None:
        raise BadRequest(_("This signature is detached: give the signed document too."))
    signed = content if content is not None else opts.detached
    assert signed is not None
    target = _without_content(sd) if content is not None else sd
    certs = cmsutil.embedded_certificates(sd)
    crls = [c.chosen for c in (sd["crls"] or []) if c.name == "crl"]
    ocsps = [
        c.chosen["other_rev_info"].parsed
        if hasattr(c.chosen["other_rev_info"], "parsed")
        else c.chosen["other_rev_info"]
        for c in (sd["crls"] or [])
        if c.name == "other"
    ]
    report = SignatureReport(format="cades")
    status = None
    for soft in (False, True):
        backend = AIOHttpFetcherBackend(per_request_timeout=10) if opts.online else None
        try:
            vc = make_vc(
                opts, others=certs, crls=crls, ocsps=ocsps, mode="soft-fail" if soft else "hard-fail", backend=backend
            )
            ts_vc = make_vc(opts, others=certs, crls=crls, ocsps=ocsps, mode="soft-fail", backend=backend)
            status = await async_validate_detached_cms(
                signed, target, signer_validation_context=vc, ts_validation_context=ts_vc, key_usage_settings=KEY_USAGE
            )
        except SignatureValidationError as exc:
            raise InvalidInput(
                _("The CMS signature could not be analysed: {err}").format(err=exc.failure_message[:160])
            ) from None
        finally:
            await close_backend(backend)
        if not _needs_soft_pass(status):
            break
    assert status is not None
    _fill_common(report, status)
    _trust_from_status(report, status, opts, soft)
    if crls or ocsps:
        report.level = "B-LT" if report.timestamp else report.level
    from sceau.formats.cades_archive import check_cms_archive  # B-LTA

    report.archive_timestamps = check_cms_archive(sd, sd["signer_infos"][0], signed)
    report.level = "B-LTA" if report.archive_timestamps else report.level
    _cert_validity(report, status.signing_cert, report.timestamp or report.claimed_time)
    report.certificates = [cmsutil.to_crypto(c) for c in certs]
    _no_pointers(report)
    if content is not None and opts.detached is not None and opts.detached != content:
        report.integrity = False  # the signature is fine, but it does not sign the file we were given
        report.problems.append("The document given is not the one inside the signature.")
    return [report]


# -- PAdES -----------------------------------------------------------------------------------------
async def verify_pdf(data: bytes, opts: VerifyOptions) -> list[SignatureReport]:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise InvalidInput(_("The PDF file is encrypted."))
        sigs = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidInput(_("The PDF file is damaged: {err}").format(err=str(exc)[:120])) from None
    dss = DocumentSecurityStore.read_dss(reader) if "/DSS" in reader.root else None
    reports: list[SignatureReport] = []
    for sig in sigs:
        if sig.sig_object_type == "/DocTimeStamp":
            continue  # B-LTA document time-stamps: checked below, for every signature
        report = SignatureReport(format="pades")
        status = None
        embedded = cmsutil.embedded_certificates(sig.signed_data)
        roots, intermediates = trust_roots(opts, embedded), split_anchors(opts.anchors)[1]
        for soft in (False, True):
            backend = AIOHttpFetcherBackend(per_request_timeout=10) if opts.online else None
            kwargs: dict[str, Any] = {
                "trust_roots": [_asn1(c) for c in roots],
                "allow_fetching": opts.online,
                "revocation_mode": "soft-fail" if soft else "hard-fail",
                "fetcher_backend": backend,
                "other_certs": [
                    *cmsutil.embedded_certificates(sig.signed_data),
                    *(_asn1(c) for c in intermediates),
                ],
            }
            try:
                vc = dss.as_validation_context(kwargs) if dss else ValidationContext(crls=[], ocsps=[], **kwargs)
                status = await async_validate_pdf_signature(
                    sig, vc, ts_validation_context=vc, key_usage_settings=KEY_USAGE
                )
            except (PdfError, ValueError, KeyError, TypeError) as exc:
                raise InvalidInput(
                    _("The PDF signature could not be analysed: {err}").format(err=str(exc)[:120])
                ) from None
            finally:
                await close_backend(backend)
            if not _needs_soft_pass(status):
                break
        assert status is not None
        _fill_common(report, status)
        _trust_from_status(report, status, opts, soft)
        level = status.modification_level
        report.modification = (
            {
                ModificationLevel.NONE: "none",
                ModificationLevel.LTA_UPDATES: "lta-updates",
                ModificationLevel.FORM_FILLING: "form-filling",
                ModificationLevel.ANNOTATIONS: "annotations",
            }.get(level, "other")
            if level is not None
            else "other"
        )
        allowed = status.docmdp_ok is not False and report.modification != "other"
        report.modified_after = not (status.coverage == SignatureCoverageLevel.ENTIRE_FILE or allowed)
        if dss is not None and report.timestamp:
            report.level = "B-LT"
        _cert_validity(report, status.signing_cert, report.timestamp or report.claimed_time)
        report.certificates = [cmsutil.to_crypto(c) for c in cmsutil.embedded_certificates(sig.signed_data)]
        _no_pointers(report)
        reports.append(report)
    from sceau.formats.archive import check_pdf_archive

    await check_pdf_archive(reader, reports, opts)
    return reports


SIGNATURE_SUFFIXES = (".p7m", ".p7s", ".p7", ".pkcs7", ".cms")


def content_name(signed_name: str) -> str:
    """The document's name in an attached signature, from the signed file's ("acte.pdf.p7m" →
    "acte.pdf"); CMS does not carry it, so "" when the name does not tell."""
    base = signed_name
    for suffix in SIGNATURE_SUFFIXES:
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    else:
        return ""
    return base if "." in base.strip(". ") else ""


async def verify_bytes(data: bytes, name: str, opts: VerifyOptions) -> VerifyReport:
    """Verify one signed file (errors in the file become a report, not an exception)."""
    from sceau.formats import xmlverify

    if len(data) > MAX_VERIFY:
        raise TooLarge(_("The file is too large to be verified."))
    kind = detect(data)
    report = VerifyReport(name=name, format=kind, offline=not opts.online, anchors_configured=bool(opts.anchors))
    try:
        if kind == "pdf":
            report.format = "pades"
            report.signatures = await verify_pdf(data, opts)
        elif kind == "cms":
            report.format = "cades"
            sd = _load_cms(data)
            report.signatures = await verify_signed_data(sd, opts)
            content = encapsulated_content(sd)
            if content is not None:  # attached: the caller may hand the document to the user
                report.content = content
                report.content_name = content_name(name)
        else:
            report.format, report.signatures = await xmlverify.verify_xml(data, opts)
    except InvalidInput as exc:
        report.error = exc.message
    if opts.lists is not None:
        report.lists_fetched = opts.lists.lotl_fetched
        qualify(report, opts.lists)
    return report


def qualify(report: VerifyReport, lists: TrustLists) -> None:
    """The level of each signature from the trusted lists, at the time-stamp's time (else now:
    a time the signer claims proves nothing, as in EU DSS's "best signature time")."""
    for s in report.signatures:
        if s.signer_certificate is None:
            continue
        when = s.timestamp if s.timestamp_valid else None
        chain = [s.signer_certificate, *(c for c in s.certificates if c != s.signer_certificate)]
        s.qualification = evaluate(chain, when, lists)
