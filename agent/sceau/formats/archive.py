"""B-LTA: archive time-stamps over signatures that already carry their validation data (B-LT).

- PAdES: the validation data of the signature goes into the DSS with its VRI entry, then a
  document time-stamp (ETSI EN 319 142-1) covers the whole file; a file that already has one gets
  the next link of the chain (validation data of the last time-stamp, then a new one).
- XAdES: an `xadesv141:ArchiveTimeStamp` (EN 319 132-1 §5.5.2) over the referenced data, SignedInfo,
  SignatureValue, KeyInfo and the unsigned signature properties that precede it, each canonicalised.

The caller supplies a TSA client; nothing here touches the trust lists.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from asn1crypto import cms
from cryptography import x509
from lxml import etree
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.validation.dss import async_add_validation_info
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from sceau.errors import InvalidInput
from sceau.formats import cmsutil, ltv, tsp, xmldsig, xmlsafe
from sceau.formats.tsp import PyHankoTimeStamper, TsaClient
from sceau.i18n import _
from sceau.tokens.base import Digest

if TYPE_CHECKING:
    from sceau.formats.report import SignatureReport
    from sceau.formats.verify import VerifyOptions

XADES141 = "http://uri.etsi.org/01903/v1.4.1#"
DS = xmldsig.DS


# -- PAdES -----------------------------------------------------------------------------------------
async def extend_pdf(data: bytes, tsa: TsaClient, anchors: Sequence[x509.Certificate] = ()) -> bytes:
    """Add the DSS / VRI for the last signature and a document time-stamp (or the next one)."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        sigs = list(reader.embedded_regular_signatures)
        stamps = list(reader.embedded_timestamp_signatures)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(_("The PDF file is damaged: {err}").format(err=str(exc)[:120])) from None
    if not sigs:
        raise InvalidInput(_("The PDF file has no signature to extend."))
    last = stamps[-1] if stamps else sigs[-1]
    certs = [cmsutil.to_crypto(c) for c in cmsutil.embedded_certificates(last.signed_data)]
    backend = AIOHttpFetcherBackend(per_request_timeout=10)
    vc = ltv.make_context(certs, anchors, fetch=True, backend=backend)
    try:
        # 1. The validation data of the last signature (or time-stamp), with its VRI entry.
        step = io.BytesIO()
        await async_add_validation_info(last, vc, output=step, add_vri_entry=True, force_write=True)
        # 2. The document time-stamp over everything, its TSA's validation data in the DSS.
        out = io.BytesIO()
        writer = IncrementalPdfFileWriter(io.BytesIO(step.getvalue()), strict=False)
        await PdfTimeStamper(PyHankoTimeStamper(tsa)).async_timestamp_pdf(
            writer, "sha256", validation_context=vc, output=out
        )
    except (PathBuildingError, PathValidationError, ValidationError, SignatureValidationError) as exc:
        raise InvalidInput(
            _("B-LTA needs validation data that could not be obtained: {err}").format(err=str(exc)[:200])
        ) from None
    except (PdfError, KeyError, TypeError) as exc:
        raise InvalidInput(_("The PDF file could not be extended: {err}").format(err=str(exc)[:160])) from None
    finally:
        await ltv.close_backend(backend)
    return out.getvalue()


# -- XAdES -----------------------------------------------------------------------------------------
def archive_input(
    sig: etree._Element, tree: etree._ElementTree, detached: bytes | None, ats: etree._Element | None
) -> bytes:
    """What an ArchiveTimeStamp covers (EN 319 132-1 §5.5.2.2), up to `ats` (None: all properties)."""
    from sceau.formats.verify import VerifyOptions
    from sceau.formats.xmlverify import _reference_data  # the one resolver of ds:Reference data

    method = ats.find(f"{{{DS}}}CanonicalizationMethod") if ats is not None else None
    exclusive = (method.get("Algorithm") if method is not None else xmldsig.EXC_C14N) == xmldsig.EXC_C14N
    opts = VerifyOptions(detached=detached)
    parts: list[bytes] = []
    for ref in sig.iterfind(f"{{{DS}}}SignedInfo/{{{DS}}}Reference"):
        data = _reference_data(ref, sig, tree, opts)
        parts.append(data)
    for tag in ("SignedInfo", "SignatureValue", "KeyInfo"):
        el = sig.find(f"{{{DS}}}{tag}")
        if el is not None:
            parts.append(xmldsig.c14n(el, exclusive=exclusive))
    usp = xmldsig.unsigned_signature_properties(sig)
    for child in usp:
        if child is ats:
            break
        if isinstance(child.tag, str):
            parts.append(xmldsig.c14n(child, exclusive=exclusive))
    for obj in sig.iterfind(f"{{{DS}}}Object"):
        if obj.find(f".//{{{xmldsig.xades_namespace(sig)}}}QualifyingProperties") is None:
            parts.append(xmldsig.c14n(obj, exclusive=exclusive))
    return b"".join(parts)


async def extend_xml(data: bytes, tsa: TsaClient, detached: bytes | None) -> bytes:
    """Append an ArchiveTimeStamp to each XAdES signature of the file."""
    tree = xmlsafe.parse_xml(data)
    sigs = list(tree.getroot().iter(f"{{{DS}}}Signature"))
    if not sigs:
        raise InvalidInput(_("No signature found."))
    for sig in sigs:
        usp = xmldsig.unsigned_signature_properties(sig)
        if not any(etree.QName(c).localname in ("CertificateValues", "RevocationValues") for c in usp):
            raise InvalidInput(_("B-LTA extends a B-LT signature: this one carries no validation data."))
        ats = etree.SubElement(
            usp, f"{{{XADES141}}}ArchiveTimeStamp", {"Id": xmldsig.new_id("ATS")}, nsmap={"xades141": XADES141}
        )
        etree.SubElement(ats, f"{{{DS}}}CanonicalizationMethod", {"Algorithm": xmldsig.EXC_C14N})
        covered = archive_input(sig, tree, detached, ats)
        token = await tsa.timestamp_data(covered, Digest.SHA256)
        etree.SubElement(ats, f"{{{XADES141}}}EncapsulatedTimeStamp").text = xmldsig.b64(token.der)
    out = etree.tostring(tree, xml_declaration=True, encoding=tree.docinfo.encoding or "UTF-8")
    return out if isinstance(out, bytes) else out.encode()


def check_xml_archive(
    sig: etree._Element, tree: etree._ElementTree, detached: bytes | None
) -> list[tuple[datetime | None, bool]]:
    """(time, valid) of each ArchiveTimeStamp of `sig`, in order."""
    from sceau.formats.xmlverify import _Unsupported

    out: list[tuple[datetime | None, bool]] = []
    usp = sig.find(f".//{{{xmldsig.xades_namespace(sig)}}}UnsignedSignatureProperties")
    if usp is None:
        return out
    for ats in usp:
        if not isinstance(ats.tag, str) or etree.QName(ats).localname != "ArchiveTimeStamp":
            continue
        ns = etree.QName(ats).namespace
        try:
            raw = "".join((ats.findtext(f"{{{ns}}}EncapsulatedTimeStamp") or "").split())
            token = cms.ContentInfo.load(base64.b64decode(raw, validate=True))
            tst = token["content"]["encap_content_info"]["content"].parsed
            alg = tst["message_imprint"]["hash_algorithm"]["algorithm"].native
            covered = archive_input(sig, tree, detached, ats)
            checked = tsp.check_token(token, cmsutil.digest_bytes(alg, covered), None, None)
            out.append((checked.time, True))
        except (InvalidInput, ValueError, KeyError, TypeError, binascii.Error, _Unsupported):
            out.append((None, False))
    return out


async def check_pdf_archive(reader: PdfFileReader, reports: Sequence[SignatureReport], opts: VerifyOptions) -> None:
    """The document time-stamps of a PDF (intact and valid), on every signature they cover."""
    from pyhanko.sign.validation import async_validate_pdf_timestamp

    from sceau.formats.verify import make_vc

    results: list[tuple[datetime | None, bool]] = []
    for ts in reader.embedded_timestamp_signatures:
        try:
            certs = cmsutil.embedded_certificates(ts.signed_data)
            status = await async_validate_pdf_timestamp(
                ts, validation_context=make_vc(opts, others=certs, mode="soft-fail")
            )
            results.append((status.timestamp, bool(status.intact and status.valid)))
        except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError):
            results.append((None, False))
    for report in reports:
        report.archive_timestamps = list(results)
        if results:
            report.level = "B-LTA"
