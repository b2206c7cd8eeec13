"""What the platform checks on the server side, with tools independent of the agent.

- a deposited pli is a CMS EnvelopedData addressed to the buyer's key AND the backup key (asn1crypto);
- CAdES detached: `openssl cms -verify`; XAdES detached and PES: `xmlsec1 --verify` run from an
  empty directory (DESIGN.md §7); PAdES: pyHanko's validator.
Each function returns a `SignatureReport`; a signature that does not verify is a report with
`valid=False`, never an exception. Blocking (subprocesses): call from a worker thread.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from examples.platform.reports import (
    Rejected,
    SignatureReport,
    Trust,
    name_parts,
    sceau_check,
)
from examples.platform.xmlchecks import verify_pes, verify_xades_detached
from sceau.devkit import verifiers

__all__ = [
    "EnvelopeInfo",
    "Rejected",
    "SignatureReport",
    "Trust",
    "check_enveloped",
    "inspect_opened",
    "verify_cades_detached",
    "verify_pades",
    "verify_pes",
    "verify_xades_detached",
]
MAX_ZIP_ENTRIES = 200
MAX_ZIP_TOTAL = 256 << 20


# ---- deposit: EnvelopedData addressed to both recipients -------------------------------------------


def _rid_matches(rid: Any, cert: x509.Certificate) -> bool:
    """A RecipientIdentifier (issuerAndSerialNumber or subjectKeyIdentifier) names `cert`?"""
    if rid.name == "issuer_and_serial_number":
        ias = rid.chosen
        # Compared as DER: string forms of names are lossy.
        cert_issuer = asn1_x509.Name.load(cert.issuer.public_bytes())
        return bool(ias["serial_number"].native == cert.serial_number and ias["issuer"].dump() == cert_issuer.dump())
    if rid.name in ("subject_key_identifier", "rkey_id"):
        ski_value = rid.chosen["subject_key_identifier"].native if rid.name == "rkey_id" else rid.chosen.native
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            return False
        return bool(ski_value == ski)
    return False


def _recipient_ids(content: Any) -> list[Any]:
    ids: list[Any] = []
    for ri in content["recipient_infos"]:
        if ri.name == "ktri":
            ids.append(ri.chosen["rid"])
        elif ri.name == "kari":
            ids.extend(rek["rid"] for rek in ri.chosen["recipient_encrypted_keys"])
    return ids


@dataclass(frozen=True)
class EnvelopeInfo:
    content_type: str
    algorithm: str
    recipients: int
    matched: list[str]


def check_enveloped(data: bytes, required: Sequence[tuple[str, x509.Certificate]]) -> EnvelopeInfo:
    """Refuse anything but a CMS (Auth)EnvelopedData that each `required` certificate can open."""
    try:
        info = cms.ContentInfo.load(data)
        ctype = info["content_type"].native
        content = info["content"]
        if ctype not in ("enveloped_data", "authenticated_enveloped_data"):
            raise Rejected(f"Le fichier n'est pas un pli chiffré (CMS {ctype}).")
        rids = _recipient_ids(content)
        algorithm = content["encrypted_content_info"]["content_encryption_algorithm"]["algorithm"].native
    except Rejected:
        raise
    except (ValueError, TypeError, KeyError):
        raise Rejected("Le fichier n'est pas un pli chiffré CMS lisible.") from None
    matched = []
    for label, cert in required:
        if not any(_rid_matches(rid, cert) for rid in rids):
            raise Rejected(f"Le pli n'est pas chiffré pour {label} : l'acheteur ne pourrait pas l'ouvrir.")
        matched.append(label)
    return EnvelopeInfo(str(ctype), str(algorithm), len(rids), matched)


# ---- CAdES detached ---------------------------------------------------------------------------------


def _cms_signer(sig: bytes) -> tuple[x509.Certificate | None, str]:
    """The signer's certificate and claimed signing time of a SignedData (for the report only)."""
    try:
        signed = cms.ContentInfo.load(sig)["content"]
        si = signed["signer_infos"][0]
        sid = si["sid"]
        when = ""
        for attr in si["signed_attrs"] or []:
            if attr["type"].native == "signing_time":
                when = attr["values"][0].native.isoformat()
        for choice in signed["certificates"] or []:
            cert = choice.chosen
            if sid.name == "issuer_and_serial_number" and cert.serial_number == sid.chosen["serial_number"].native:
                return x509.load_der_x509_certificate(cert.dump()), when
            if sid.name == "subject_key_identifier" and cert.key_identifier == sid.chosen.native:
                return x509.load_der_x509_certificate(cert.dump()), when
        return None, when
    except (ValueError, TypeError, KeyError, IndexError):
        return None, ""


def verify_cades_detached(sig: bytes, data: bytes, name: str, trust: Trust) -> SignatureReport:
    report = SignatureReport(name, "CAdES détachée", False, "openssl cms -verify")
    cert, when = _cms_signer(sig)
    if cert is not None:
        report.signer, report.organisation = name_parts(cert.subject)
    report.signing_time = when
    with tempfile.TemporaryDirectory(prefix="sceau-demo-") as tmp:
        d = Path(tmp)
        (d / "sig.p7s").write_bytes(sig)
        (d / "data.bin").write_bytes(data)
        (d / "ca.pem").write_bytes(trust.root_pem.read_bytes() + b"\n" + trust.intermediates_pem.read_bytes())
        # openssl 3.0 `cms` has no -untrusted and -certfile does not feed chain building:
        # the CA file holds the root and the intermediates.
        res = verifiers.openssl_cms_verify(d / "sig.p7s", content=d / "data.bin", trusted=d / "ca.pem")
    report.valid = res.ok
    report.details.append(
        "Signature et chaîne de certification vérifiées." if report.valid else f"Refusée : {res.message()}"
    )
    return report


# ---- PAdES -------------------------------------------------------------------------------------------


def verify_pades(pdf: bytes, name: str, trust: Trust) -> list[SignatureReport]:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    def asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = list(reader.embedded_signatures)
    except Exception:  # pyHanko raises many types on malformed PDFs
        raise Rejected("Le PDF n'a pas pu être lu.") from None
    if not signatures:
        raise Rejected("Le PDF ne contient aucune signature.")
    reports = []
    for emb in signatures:
        report = SignatureReport(name, "PAdES", False, "pyHanko validate_pdf_signature")
        vc = ValidationContext(
            trust_roots=[asn1(c) for c in trust.anchors()],
            other_certs=[asn1(c) for c in trust.intermediates()],
            allow_fetching=False,
        )
        try:
            status = validate_pdf_signature(emb, vc)
        except Exception as exc:  # report, never crash the page
            report.details.append(f"Validation impossible : {type(exc).__name__}")
            reports.append(report)
            continue
        cert = x509.load_der_x509_certificate(status.signing_cert.dump())
        report.signer, report.organisation = name_parts(cert.subject)
        if status.signer_reported_dt is not None:
            report.signing_time = status.signer_reported_dt.isoformat()
        report.valid = bool(status.bottom_line)
        coverage = getattr(status.coverage, "name", str(status.coverage))
        report.details.append(
            f"Intègre : {'oui' if status.intact else 'non'} ; cryptographiquement valide : "
            f"{'oui' if status.valid else 'non'} ; chaîne de confiance : {'oui' if status.trusted else 'non'} ; "
            f"couverture : {coverage}."
        )
        rect = emb.sig_field.get("/Rect")
        visible = rect is not None and abs(float(rect[2]) - float(rect[0])) > 0
        report.details.append(f"Signature visible : {'oui' if visible else 'non'} (champ {emb.field_name}).")
        reports.append(report)
    return reports


# ---- opened pli: files and their detached signatures ----------------------------------------------


def inspect_opened(zip_bytes: bytes, trust: Trust) -> tuple[list[dict[str, Any]], list[SignatureReport]]:
    """List the files of an opened pli (a zip) and verify every detached .p7s / .xml signature inside."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(zip_bytes))
        infos = [i for i in zf.infolist() if not i.is_dir()]
    except zipfile.BadZipFile:
        raise Rejected("Le pli ouvert n'est pas une archive zip.") from None
    if len(infos) > MAX_ZIP_ENTRIES or sum(i.file_size for i in infos) > MAX_ZIP_TOTAL:
        raise Rejected("Archive trop volumineuse pour la démonstration.")
    files: dict[str, bytes] = {}
    budget = MAX_ZIP_TOTAL
    for info in infos:
        with zf.open(info) as fh:  # bounded read: the declared sizes may lie (zip bombs)
            data = fh.read(budget + 1)
        budget -= len(data)
        if budget < 0:
            raise Rejected("Archive trop volumineuse pour la démonstration.")
        files[info.filename] = data
    listing = [{"name": n, "size": len(b)} for n, b in files.items()]
    reports: list[SignatureReport] = []
    for sig_name, sig in files.items():
        if " - Signature " not in sig_name or not sig_name.endswith((".p7s", ".xml")):
            continue
        doc_name = sig_name.rsplit(" - Signature ", 1)[0]
        if doc_name not in files:
            reports.append(SignatureReport(sig_name, "?", False, "-", details=["Document signé absent du pli."]))
        else:
            verify = verify_cades_detached if sig_name.endswith(".p7s") else verify_xades_detached
            report = verify(sig, files[doc_name], doc_name, trust)
            opinion, report.level = sceau_check(sig, doc_name, trust, files[doc_name])
            report.details.append(opinion)
            reports.append(report)
    return listing, reports
