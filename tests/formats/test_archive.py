"""B-LTA: archive time-stamps on PAdES (document time-stamp + DSS/VRI) and XAdES (ArchiveTimeStamp).

Independent checks: pyHanko's PAdES-LTA validator, xmlsec1 for the XAdES signature, `openssl ts
-verify` for every time-stamp token (with the covered bytes rebuilt by the test); our verifier
rejects each artifact after a one-byte change.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis.policy_api import ModificationLevel
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.settings import KeyUsageConstraints

from sceau.devkit import verifiers
from sceau.devkit.pki import DevPki
from sceau.formats import archive, pades, xades, xmldsig, xmlsafe
from sceau.formats.options import Level, SignOptions
from sceau.formats.signer import TokenKey
from sceau.formats.tsp import TsaClient
from sceau.formats.verify import VerifyOptions, verify_bytes

from .conftest import run
from .pdfs import make_pdf

NAME = "Offre.pdf"
DOC = b"%PDF-1.4\n% offre de Bati Durand\n" * 50
KU = KeyUsageConstraints(key_usage=set(), match_all_key_usages=False)


def _root(pki: DevPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(pki.root_ca).read_bytes())


def ts_verify(pki: DevPki, token: bytes, tmp: Path, *, data: bytes | None = None, imprint: bytes | None = None) -> bool:
    (tmp / "tok.der").write_bytes(token)
    cmd = ["openssl", "ts", "-verify", "-token_in", "-in", str(tmp / "tok.der")]
    if data is not None:
        (tmp / "covered.bin").write_bytes(data)
        cmd += ["-data", str(tmp / "covered.bin")]
    else:
        assert imprint is not None
        cmd += ["-digest", imprint.hex()]
    res = run([*cmd, "-CAfile", str(pki.root_ca), "-untrusted", str(pki.chain)])
    return res.returncode == 0 and "Verification: OK" in res.stdout


async def test_pades_b_lta(
    make_key: Callable[[str, str], TokenKey], fpki: DevPki, tsa: TsaClient, tmp_path: Path
) -> None:
    signed = await pades.sign_pdf(make_pdf(), make_key("p12", "sign-rsa2048"), SignOptions(level=Level.B_LT, tsa=tsa))
    lta = await archive.extend_pdf(signed, tsa, [_root(fpki)])
    assert lta.startswith(signed)
    reader = PdfFileReader(io.BytesIO(lta))
    [sig] = reader.embedded_regular_signatures
    [doc_ts] = reader.embedded_timestamp_signatures
    # pyHanko's validators, offline with revocation required: everything must come from the DSS.
    dss = DocumentSecurityStore.read_dss(reader)
    kw = {"trust_roots": [fpki_root_asn1(fpki)], "allow_fetching": False, "revocation_mode": "hard-fail"}
    status = await async_validate_pdf_signature(sig, dss.as_validation_context(kw), key_usage_settings=KU)
    assert status.intact and status.valid and status.trusted
    assert status.modification_level is ModificationLevel.LTA_UPDATES
    ts_status = await async_validate_pdf_timestamp(doc_ts, dss.as_validation_context(kw))
    assert ts_status.intact and ts_status.valid and ts_status.trusted
    vri = reader.root["/DSS"]["/VRI"]
    assert "/" + hashlib.sha1(sig.pkcs7_content).hexdigest().upper() in vri  # VRI keys are SHA-1
    # openssl on both tokens: the document time-stamp over its byte range, the signature's over its value.
    a, b, c, d = (int(x) for x in doc_ts.sig_object["/ByteRange"])
    assert ts_verify(fpki, doc_ts.pkcs7_content, tmp_path, data=lta[a : a + b] + lta[c : c + d])
    sig_ts = sig.signer_info["unsigned_attrs"][0]["values"][0]
    value = sig.signer_info["signature"].native
    assert ts_verify(fpki, sig_ts.dump(), tmp_path, imprint=hashlib.sha256(value).digest())
    # Our verifier: B-LTA, valid; one byte changed in the page content → rejected.
    opts = VerifyOptions(anchors=[_root(fpki)])
    report = await verify_bytes(lta, "offre.pdf", opts)
    s = report.signatures[0]
    assert report.valid and s.level == "B-LTA" and len(s.archive_timestamps) == 1 and s.archive_timestamps[0][1]
    i = lta.index(b"Acte d'engagement")
    bad = lta[:i] + b"X" + lta[i + 1 :]
    bad_report = await verify_bytes(bad, "offre.pdf", opts)
    assert not bad_report.valid and not bad_report.signatures[0].archive_timestamps[0][1]
    # A second extension chains a new document time-stamp.
    again = await archive.extend_pdf(lta, tsa, [_root(fpki)])
    assert len(list(PdfFileReader(io.BytesIO(again)).embedded_timestamp_signatures)) == 2
    assert (await verify_bytes(again, "offre.pdf", opts)).valid


def fpki_root_asn1(pki: DevPki) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(_root(pki).public_bytes(Encoding.DER))


def _covered_by_hand(sig: etree._Element, doc: bytes) -> bytes:
    """EN 319 132-1 §5.5.2.2 rebuilt here (not with archive.archive_input): the detached document,
    the SignedProperties, SignedInfo, SignatureValue, KeyInfo and the unsigned properties before it."""
    ns = {"ds": xmldsig.DS, "x": xmldsig.XADES132}

    def c(el: etree._Element) -> bytes:
        return etree.tostring(el, method="c14n", exclusive=True, with_comments=False)

    parts = [doc, c(sig.find(".//x:SignedProperties", namespaces=ns))]
    parts += [c(sig.find(f"ds:{tag}", namespaces=ns)) for tag in ("SignedInfo", "SignatureValue", "KeyInfo")]
    usp = sig.find(".//x:UnsignedSignatureProperties", namespaces=ns)
    for child in usp:
        if etree.QName(child).localname == "ArchiveTimeStamp":
            break
        parts.append(c(child))
    return b"".join(parts)


async def test_xades_b_lta(
    make_key: Callable[[str, str], TokenKey], fpki: DevPki, tsa: TsaClient, tmp_path: Path
) -> None:
    sig = await xades.sign_detached(
        DOC, NAME, "application/pdf", make_key("p12", "sign-rsa2048"), SignOptions(level=Level.B_LT, tsa=tsa)
    )
    lta = await archive.extend_xml(sig, tsa, DOC)
    (tmp_path / "doc.bin").write_bytes(DOC)
    (tmp_path / "sig.xml").write_bytes(lta)
    assert verifiers.xmlsec_verify(
        tmp_path / "sig.xml", trusted=fpki.root_ca, untrusted=fpki.intermediate_ca, url_map={NAME: tmp_path / "doc.bin"}
    ).ok
    root = xmlsafe.parse_xml(lta).getroot()
    s = root if etree.QName(root).localname == "Signature" else root.find(f".//{{{xmldsig.DS}}}Signature")
    assert s is not None
    tokens = {
        etree.QName(el.getparent()).localname: base64.b64decode(el.text or "")
        for el in s.iter(f"{{{xmldsig.XADES132}}}EncapsulatedTimeStamp", f"{{{archive.XADES141}}}EncapsulatedTimeStamp")
    }
    assert set(tokens) == {"SignatureTimeStamp", "ArchiveTimeStamp"}
    sv = xmldsig.c14n(s.find(f"{{{xmldsig.DS}}}SignatureValue"))
    assert ts_verify(fpki, tokens["SignatureTimeStamp"], tmp_path, data=sv)
    assert ts_verify(fpki, tokens["ArchiveTimeStamp"], tmp_path, data=_covered_by_hand(s, DOC))
    cms.ContentInfo.load(tokens["ArchiveTimeStamp"])
    opts = VerifyOptions(anchors=[_root(fpki)], detached=DOC, detached_name=NAME)
    report = await verify_bytes(lta, "sig.xml", opts)
    assert report.valid, report.text("en")
    assert report.signatures[0].level == "B-LTA" and report.signatures[0].archive_timestamps[0][1]
    # One byte in a property the signature does not cover but the archive time-stamp does.
    i = lta.index(b'Id="TS-') + len(b'Id="TS-')
    bad = lta[:i] + (b"0" if lta[i : i + 1] != b"0" else b"1") + lta[i + 1 :]
    (tmp_path / "sig.xml").write_bytes(bad)
    assert verifiers.xmlsec_verify(
        tmp_path / "sig.xml", trusted=fpki.root_ca, untrusted=fpki.intermediate_ca, url_map={NAME: tmp_path / "doc.bin"}
    ).ok  # the signature itself is untouched…
    bad_report = await verify_bytes(bad, "sig.xml", opts)
    assert not bad_report.valid and not bad_report.signatures[0].archive_timestamps[0][1]  # …the archive is not
    assert "archive time-stamp is not valid" in bad_report.text("en")


async def test_cli_extend(
    make_key: Callable[[str, str], TokenKey], fpki: DevPki, tsa: TsaClient, tsa_url: str, tmp_path: Path
) -> None:
    import json
    import sys

    signed = await pades.sign_pdf(make_pdf(), make_key("p12", "sign-ec256"), SignOptions(level=Level.B_LT, tsa=tsa))
    (tmp_path / "offre.pdf").write_bytes(signed)
    cli = [sys.executable, "-m", "sceau.cli"]
    res = run([*cli, "extend", "--level", "B-LTA", str(tmp_path / "offre.pdf"), "--tsa", tsa_url,
               "--trust", str(fpki.root_ca), "-o", str(tmp_path / "lta.pdf")])  # fmt: skip
    assert res.returncode == 0, res.stderr
    res = run([*cli, "verify", str(tmp_path / "lta.pdf"), "--trust", str(fpki.root_ca), "--json", "--no-trusted-lists"])
    report = json.loads(res.stdout)
    assert res.returncode == 0 and report["signatures"][0]["level"] == "B-LTA"
    assert report["signatures"][0]["archiveTimestamps"][0]["valid"] is True
    # Not replaced when the output exists; a damaged CMS file gets a clear message, not a traceback.
    again = run([*cli, "extend", str(tmp_path / "offre.pdf"), "--tsa", tsa_url, "-o", str(tmp_path / "lta.pdf")])
    assert again.returncode != 0 and "Traceback" not in again.stderr
    (tmp_path / "s.p7s").write_bytes(b"0\x80\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02" + b"\x00" * 8)
    cms_res = run([*cli, "--lang", "en", "extend", str(tmp_path / "s.p7s"), "--tsa", tsa_url])
    assert cms_res.returncode != 0 and "damaged" in cms_res.stderr and "Traceback" not in cms_res.stderr


def _ats_v3_input_by_hand(info: cms.ContentInfo, doc: bytes, index_der: bytes) -> bytes:
    """EN 319 122-1 §5.5.3 rebuilt here: eContentType, H(content), the SignerInfo fields, the index."""
    sd = info["content"]
    si = sd["signer_infos"][0]
    fields = ("version", "sid", "digest_algorithm", "signed_attrs", "signature_algorithm", "signature")
    return (
        sd["encap_content_info"]["content_type"].dump()
        + hashlib.sha256(doc).digest()
        + b"".join(si[f].dump() for f in fields)
        + index_der
    )


async def test_cades_b_lta(
    make_key: Callable[[str, str], TokenKey], fpki: DevPki, tsa: TsaClient, tmp_path: Path
) -> None:
    from sceau.formats import cades, cades_archive

    sig = await cades.sign_detached(DOC, make_key("p12", "sign-rsa2048"), SignOptions(level=Level.B_LT, tsa=tsa))
    lta = await cades_archive.extend_cms(sig, tsa, DOC)
    (tmp_path / "doc.bin").write_bytes(DOC)
    (tmp_path / "lta.p7s").write_bytes(lta)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(Path(fpki.chain).read_bytes())
    assert verifiers.openssl_cms_verify(tmp_path / "lta.p7s", trusted=chain, content=tmp_path / "doc.bin").ok
    info = cms.ContentInfo.load(lta)
    si = info["content"]["signer_infos"][0]
    by_type = {a["type"].dotted: a["values"][0] for a in si["unsigned_attrs"]}
    sig_ts = cms.ContentInfo.load(by_type["1.2.840.113549.1.9.16.2.14"].dump())
    assert ts_verify(fpki, sig_ts.dump(), tmp_path, imprint=hashlib.sha256(si["signature"].native).digest())
    ats = cms.ContentInfo.load(by_type[cades_archive.ATS_V3].dump())
    [index_attr] = ats["content"]["signer_infos"][0]["unsigned_attrs"]
    assert index_attr["type"].dotted == cades_archive.ATS_HASH_INDEX_V3
    index = cades_archive.ATSHashIndexV3.load(index_attr["values"][0].dump())
    assert len(index["certificates_hash_index"]) == len(info["content"]["certificates"])
    assert len(index["crls_hash_index"]) == len(info["content"]["crls"]) > 0
    covered = _ats_v3_input_by_hand(info, DOC, index_attr["values"][0].dump())
    assert ts_verify(fpki, ats.dump(), tmp_path, imprint=hashlib.sha256(covered).digest())
    opts = VerifyOptions(anchors=[_root(fpki)], detached=DOC)
    report = await verify_bytes(lta, "lta.p7s", opts)
    s = report.signatures[0]
    assert report.valid and s.level == "B-LTA" and s.archive_timestamps[0][1], report.text("en")
    # One byte inside a revocation entry (unsigned by the signer, covered by the archive time-stamp).
    crl = info["content"]["crls"][0].dump()
    i = lta.index(crl) + len(crl) - 1
    bad = lta[:i] + bytes([lta[i] ^ 1]) + lta[i + 1 :]
    (tmp_path / "bad.p7s").write_bytes(bad)
    assert verifiers.openssl_cms_verify(tmp_path / "bad.p7s", trusted=chain, content=tmp_path / "doc.bin").ok
    bad_report = await verify_bytes(bad, "bad.p7s", opts)
    assert bad_report.signatures[0].signature_valid  # the signature itself is untouched…
    assert not bad_report.valid and not bad_report.signatures[0].archive_timestamps[0][1]  # …its archive is not
