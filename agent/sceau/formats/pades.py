"""PAdES through pyHanko with the token as a pyHanko `Signer`.

B-B (ETSI.CAdES.detached), B-T (signature time-stamp), B-LT (DSS dictionary with chains, CRLs
and OCSP answers). Always an incremental update, so earlier signatures stay valid. Optional
visible box (page, position, signer, date, reason, location); approval or certification.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec
from pyhanko.sign.general import SigningError
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from sceau.errors import InvalidInput
from sceau.formats import ltv
from sceau.formats.ltv import close_backend
from sceau.formats.options import Level, SignOptions
from sceau.formats.signer import PyHankoTokenSigner, TokenKey
from sceau.formats.tsp import PyHankoTimeStamper
from sceau.i18n import _

DOCMDP = {"no-changes": MDPPerm.NO_CHANGES, "fill-forms": MDPPerm.FILL_FORMS, "annotate": MDPPerm.ANNOTATE}


@dataclass
class VisibleSignature:
    page: int = 1  # 1-based; negative counts from the end (-1: last page)
    box: tuple[int, int, int, int] = (50, 50, 300, 120)  # x1, y1, x2, y2 in PDF points
    text: str = ""  # "" → signer, date, reason, location


@dataclass
class PadesOptions:
    field_name: str = ""
    reason: str = ""
    location: str = ""
    contact: str = ""
    certify: bool = False
    docmdp: str = "fill-forms"
    visible: VisibleSignature | None = None


def open_pdf(data: bytes) -> IncrementalPdfFileWriter:
    """An incremental writer over `data`, refusing corrupt and encrypted files clearly."""
    if not data[:1024].lstrip()[:5].startswith(b"%PDF-"):
        raise InvalidInput(_("The document is not a PDF file."))
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidInput(_("The PDF file is damaged: {err}").format(err=str(exc)[:120])) from None
    if writer.prev.encrypted:
        raise InvalidInput(_("The PDF file is encrypted: remove its password before signing."))
    return writer


def preflight(data: bytes) -> int:
    """Walk what signing will walk (trailer, catalogue, form fields, pages) so a worker process can time
    it out; returns the number of signature fields. Runs in `sceau.formats.worker`."""
    writer = open_pdf(data)
    try:
        found = sum(1 for _f in fields.enumerate_sig_fields(writer.prev, filled_status=True))
        int(writer.root["/Pages"]["/Count"])
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidInput(_("The PDF file is damaged: {err}").format(err=str(exc)[:120])) from None
    return found


def _field_name(writer: IncrementalPdfFileWriter, wanted: str) -> str:
    existing = {name for name, _v, _r in fields.enumerate_sig_fields(writer.prev)}
    if wanted:
        if wanted in existing:
            raise InvalidInput(_("The PDF already has a signature field named {name}.").format(name=wanted))
        return wanted
    n = 1
    while f"Signature{n}" in existing:
        n += 1
    return f"Signature{n}"


def _stamp(opts: PadesOptions) -> TextStampStyle:
    text = opts.visible.text if opts.visible and opts.visible.text else ""
    if not text:
        lines = ["Signé par %(signer)s", "Le %(ts)s"]
        if opts.reason:
            lines.append("%(reason)s")
        if opts.location:
            lines.append("%(location)s")
        text = "\n".join(lines)
    return TextStampStyle(stamp_text=text, timestamp_format="%d/%m/%Y %H:%M:%S %Z")


async def sign_pdf(data: bytes, key: TokenKey, options: SignOptions, pades: PadesOptions | None = None) -> bytes:
    """Sign a PDF; returns the new file (the input plus one incremental update)."""
    pades = pades or PadesOptions()
    options.check()
    key = key.completed(options.trust_anchors)
    writer = open_pdf(data)
    try:
        has_signatures = any(True for _f in fields.enumerate_sig_fields(writer.prev, filled_status=True))
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(_("The PDF file is damaged: {err}").format(err=str(exc)[:120])) from None
    if pades.certify and has_signatures:
        raise InvalidInput(_("A certification signature must be the first signature of the PDF."))
    if pades.docmdp not in DOCMDP:
        raise InvalidInput(_("Unknown DocMDP permission {value}.").format(value=pades.docmdp))
    name = _field_name(writer, pades.field_name)
    backend: AIOHttpFetcherBackend | None = None
    vc = None
    if options.level is Level.B_LT:
        backend = AIOHttpFetcherBackend(per_request_timeout=10)
        vc = ltv.make_context([key.certificate, *key.chain], options.trust_anchors, fetch=True, backend=backend)
    meta = signers.PdfSignatureMetadata(
        field_name=name,
        md_algorithm=options.digest.value,
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=pades.reason or None,
        location=pades.location or None,
        contact_info=pades.contact or None,
        certify=pades.certify,
        docmdp_permissions=DOCMDP[pades.docmdp],
        embed_validation_info=options.level is Level.B_LT,
        validation_context=vc,
        signer_key_usage={"non_repudiation"} if "sign" in key.entry.roles else set(),
    )
    field_spec = None
    if pades.visible is not None:
        page_count = int(writer.root["/Pages"]["/Count"])
        page = pades.visible.page - 1 if pades.visible.page > 0 else page_count + pades.visible.page
        if not 0 <= page < page_count:
            raise InvalidInput(_("The PDF has no page {n}.").format(n=pades.visible.page))
        field_spec = SigFieldSpec(sig_field_name=name, on_page=page, box=pades.visible.box)
    timestamper = PyHankoTimeStamper(options.tsa) if options.level.timestamped and options.tsa else None
    pdf_signer = signers.PdfSigner(
        meta,
        signer=PyHankoTokenSigner(key, options.digest),
        timestamper=timestamper,
        stamp_style=_stamp(pades) if field_spec else None,
        new_field_spec=field_spec,
    )
    params: dict[str, Any] = {"reason": pades.reason, "location": pades.location}
    out = io.BytesIO()
    try:
        await pdf_signer.async_sign_pdf(writer, output=out, appearance_text_params=params)
    except (PdfError, KeyError, TypeError) as exc:
        raise InvalidInput(_("The PDF file could not be signed: {err}").format(err=str(exc)[:160])) from None
    except SigningError as exc:
        raise InvalidInput(_("The PDF file could not be signed: {err}").format(err=str(exc)[:160])) from None
    finally:
        await close_backend(backend)
    return out.getvalue()
