"""XML signatures the platform receives: detached XAdES (award documents) and PES_Aller (Hélios),
verified with `xmlsec1 --verify` from an empty directory (DESIGN.md §7). Blocking: run in a thread."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from urllib.parse import unquote

from cryptography import x509
from lxml import etree

from examples.platform.reports import Rejected, SignatureReport, Trust, name_parts
from sceau.devkit import verifiers
from sceau.errors import SceauError
from sceau.formats import xmldsig, xmlsafe


def _x509_of(sig_el: etree._Element) -> x509.Certificate | None:
    el = sig_el.find(f".//{{{xmldsig.DS}}}X509Certificate")
    if el is None or not el.text:
        return None
    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join(el.text.split())))
    except ValueError:
        return None


def _fill_signer(report: SignatureReport, sig_el: etree._Element) -> None:
    cert = _x509_of(sig_el)
    if cert is not None:
        report.signer, report.organisation = name_parts(cert.subject)
    when = sig_el.find(".//{*}SigningTime")
    if when is not None and when.text:
        report.signing_time = when.text.strip()


def _parse(data: bytes) -> etree._Element:
    try:
        return xmlsafe.parse_xml(data).getroot()
    except SceauError as exc:
        raise Rejected(f"XML refusé : {exc.message}") from None


def verify_xades_detached(sig: bytes, data: bytes, name: str, trust: Trust) -> SignatureReport:
    report = SignatureReport(name, "XAdES détachée", False, "xmlsec1 --verify")
    root = _parse(sig)
    sig_el = root if etree.QName(root).localname == "Signature" else root.find(f".//{{{xmldsig.DS}}}Signature")
    if sig_el is None:
        report.details.append("Aucune signature XML dans le fichier.")
        return report
    _fill_signer(report, sig_el)
    uris = [
        ref.get("URI", "")
        for ref in sig_el.iter(f"{{{xmldsig.DS}}}Reference")
        if not ref.get("URI", "").startswith("#") and ref.get("Type") != xmldsig.SIGNED_PROPS_TYPE
    ]
    if len(uris) != 1:
        report.details.append("La signature doit référencer exactement un document détaché.")
        return report
    with tempfile.TemporaryDirectory(prefix="sceau-demo-") as tmp:
        d = Path(tmp)
        (d / "sig.xml").write_bytes(sig)
        (d / "doc.bin").write_bytes(data)
        res = verifiers.xmlsec_verify(
            d / "sig.xml",
            trusted=trust.root_pem,
            untrusted=trust.intermediates_pem,
            url_map={unquote(uris[0]): d / "doc.bin"},
        )
    report.valid = res.ok
    report.details.append(
        f"Document « {unquote(uris[0])} » et certificat vérifiés." if report.valid else f"Refusée : {res.message()}"
    )
    return report


def verify_pes(data: bytes, trust: Trust) -> list[SignatureReport]:
    """One report per ds:Signature of a PES_Aller (enveloped in a Bordereau or in the whole file)."""
    root = _parse(data)
    if etree.QName(root).localname != "PES_Aller":
        raise Rejected("Ce fichier n'est pas un PES_Aller.")
    reports: list[SignatureReport] = []
    signatures = list(root.iter(f"{{{xmldsig.DS}}}Signature"))
    bordereaux = [el for el in root.iter() if isinstance(el.tag, str) and etree.QName(el).localname == "Bordereau"]
    with tempfile.TemporaryDirectory(prefix="sceau-demo-") as tmp:
        d = Path(tmp)
        (d / "pes.xml").write_bytes(data)
        for sig_el in signatures:
            parent = sig_el.getparent()
            assert parent is not None
            target = parent.get("Id") or etree.QName(parent).localname
            report = SignatureReport(f"{etree.QName(parent).localname} {target}", "PES (XAdES-EPES)", False, "xmlsec1")
            _fill_signer(report, sig_el)
            refs = [r.get("URI", "") for r in sig_el.iter(f"{{{xmldsig.DS}}}Reference")]
            sig_id = sig_el.get("Id", "")
            if not sig_id:
                report.details.append("Signature sans attribut Id : impossible de la désigner.")
            elif parent is not root and f"#{parent.get('Id')}" not in refs:
                report.details.append("La signature ne couvre pas le bordereau qui la contient.")
            else:
                res = verifiers.xmlsec_verify(
                    d / "pes.xml",
                    trusted=trust.root_pem,
                    untrusted=trust.intermediates_pem,
                    id_attrs=verifiers.PES_IDS,
                    node_id=sig_id,
                )
                report.valid = res.ok
                report.details.append(
                    "Signature enveloppée vérifiée." if report.valid else f"Refusée : {res.message()}"
                )
            reports.append(report)
    unsigned = [b.get("Id", "?") for b in bordereaux if b.find(f"{{{xmldsig.DS}}}Signature") is None]
    whole = any(s.getparent() is root for s in signatures)
    if unsigned and not whole:
        reports.append(
            SignatureReport(f"Bordereaux {', '.join(unsigned)}", "PES", False, "-", details=["Bordereau non signé."])
        )
    if not signatures:
        raise Rejected("Le PES_Aller ne porte aucune signature.")
    return reports
