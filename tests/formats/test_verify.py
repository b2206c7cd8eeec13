"""Local verification: our artifacts, openssl's CAdES and pyHanko's PAdES accepted; one byte changed → rejected."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from sceau.devkit import pki as devpki
from sceau.devkit.pki import DevPki
from sceau.formats import cades, pades, pes, xades
from sceau.formats.options import Level, SignOptions
from sceau.formats.report import Revocation
from sceau.formats.signer import TokenKey
from sceau.formats.tsp import TsaClient
from sceau.formats.verify import VerifyOptions, verify_bytes

from .conftest import run
from .pdfs import make_pdf
from .test_pes import make_pes

DOC = b"Acte d'engagement, version finale.\n" * 20


def anchors(pki: DevPki) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(Path(pki.root_ca).read_bytes())]


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


async def test_cades_levels(make_key: Callable[[str, str], TokenKey], fpki: DevPki, tsa: TsaClient) -> None:
    key = make_key("p11", "sign-ec256")
    for level in (Level.B_B, Level.B_T, Level.B_LT):
        sig = await cades.sign_detached(DOC, key, SignOptions(level=level, tsa=tsa))
        report = await verify_bytes(sig, "DOC.txt - Signature 1.p7s", VerifyOptions(anchors(fpki), detached=DOC))
        assert report.valid, report.text("en")
        s = report.signatures[0]
        assert s.level == level.value
        assert s.revocation is (Revocation.GOOD if level is Level.B_LT else Revocation.OFFLINE)
        if level is not Level.B_B:
            assert s.timestamp_valid
        bad = await verify_bytes(sig, "x.p7s", VerifyOptions(anchors(fpki), detached=flip(DOC, 5)))
        assert not bad.valid and not bad.signatures[0].integrity


async def test_cades_made_by_openssl(fpki: DevPki, tmp_path: Path) -> None:
    (tmp_path / "doc").write_bytes(DOC)
    res = run(
        [
            "openssl",
            "cms",
            "-sign",
            "-binary",
            "-in",
            str(tmp_path / "doc"),
            "-signer",
            fpki["sign-rsa2048"].cert,
            "-inkey",
            fpki["sign-rsa2048"].key_pem,
            "-certfile",
            str(fpki.intermediate_ca),
            "-outform",
            "DER",
            "-out",
            str(tmp_path / "sig.p7s"),
        ]
    )
    assert res.returncode == 0, res.stderr
    sig = (tmp_path / "sig.p7s").read_bytes()
    report = await verify_bytes(sig, "sig.p7s", VerifyOptions(anchors(fpki), detached=DOC))
    assert report.valid, report.text("en")
    tampered = flip(sig, len(sig) - 10)  # inside the signature value
    assert not (await verify_bytes(tampered, "sig.p7s", VerifyOptions(anchors(fpki), detached=DOC))).valid


async def test_pdf_signed_by_pyhanko_alone(fpki: DevPki) -> None:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    simple = signers.SimpleSigner.load_pkcs12(fpki["sign-rsa2048"].p12, passphrase=devpki.P12_PASSWORD.encode())
    out = io.BytesIO()
    await signers.async_sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(make_pdf())),
        signers.PdfSignatureMetadata(field_name="Sig"),
        simple,
        output=out,
    )
    data = out.getvalue()
    report = await verify_bytes(data, "a.pdf", VerifyOptions(anchors(fpki)))
    assert report.valid, report.text("en")
    tampered = data.replace(b"page 1", b"page 2", 1)
    assert not (await verify_bytes(tampered, "a.pdf", VerifyOptions(anchors(fpki)))).valid


async def test_pdf_modified_after_signing(make_key: Callable[[str, str], TokenKey], fpki: DevPki) -> None:
    signed = await pades.sign_pdf(make_pdf(), make_key("p12", "sign-rsa2048"), SignOptions())
    # An incremental update that rewrites the page content after signing.
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    stream = generic.StreamObject(stream_data=b"BT /F1 18 Tf 72 720 Td (Autre montant) Tj ET")
    page["/Contents"] = w.add_object(stream)
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    report = await verify_bytes(out.getvalue(), "a.pdf", VerifyOptions(anchors(fpki)))
    assert not report.valid and report.signatures[0].modified_after
    assert "modifié après" in report.text("fr") or "a été modifié" in report.text("fr")


async def test_xades_and_pes(make_key: Callable[[str, str], TokenKey], fpki: DevPki, tsa: TsaClient) -> None:
    key = make_key("p12", "sign-rsa2048")
    sig = await xades.sign_detached(DOC, "Acte.pdf", "application/pdf", key, SignOptions(level=Level.B_LT, tsa=tsa))
    opts = VerifyOptions(anchors(fpki), detached=DOC, detached_name="Acte.pdf")
    report = await verify_bytes(sig, "Acte.pdf - Signature 1.xml", opts)
    assert report.valid and report.format == "xades", report.text("en")
    assert report.signatures[0].level == "B-LT" and report.signatures[0].revocation is Revocation.GOOD
    opts_bad = VerifyOptions(anchors(fpki), detached=flip(DOC, 3), detached_name="Acte.pdf")
    assert not (await verify_bytes(sig, "x.xml", opts_bad)).valid
    signed = await pes.sign_pes(make_pes(), make_key("p11", "sign-ec256"), SignOptions(level=Level.B_T, tsa=tsa))
    report = await verify_bytes(signed, "PES.xml", VerifyOptions(anchors(fpki)))
    assert report.valid and report.format == "pes" and len(report.signatures) == 2, report.text("en")
    tampered = signed.replace(b'IdPce V="10"', b'IdPce V="11"', 1)
    report = await verify_bytes(tampered, "PES.xml", VerifyOptions(anchors(fpki)))
    assert not report.valid and [s.integrity for s in report.signatures] == [False, True]


async def test_revoked_signer_online(make_key: Callable[[str, str], TokenKey], fpki: DevPki) -> None:
    sig = await cades.sign_detached(DOC, make_key("p12", "sign-revoked"), SignOptions())
    report = await verify_bytes(sig, "x.p7s", VerifyOptions(anchors(fpki), online=True, detached=DOC))
    assert not report.valid and report.signatures[0].revocation is Revocation.REVOKED
    assert "révoqué" in report.text("fr")


async def test_untrusted_without_anchors(make_key: Callable[[str, str], TokenKey]) -> None:
    sig = await cades.sign_detached(DOC, make_key("p12", "sign-rsa2048"), SignOptions())
    report = await verify_bytes(sig, "x.p7s", VerifyOptions(detached=DOC))
    assert not report.valid and report.signatures[0].integrity and report.signatures[0].signature_valid


async def test_texts_fr_en(make_key: Callable[[str, str], TokenKey], fpki: DevPki) -> None:
    signed = await pades.sign_pdf(make_pdf(), make_key("p12", "sign-ec256"), SignOptions())
    report = await verify_bytes(signed, "Acte.pdf", VerifyOptions(anchors(fpki)))
    fr = report.text("fr")
    assert "Signé au moyen de signatures valables" in fr
    assert "Le Document n'a pas été modifié depuis l'apposition de la signature" in fr
    assert "L'identité du signataire est valable" in fr
    en = report.text("en")
    assert "Signed with valid signatures" in en and "The signer's identity is valid" in en
    assert report.to_json("en")["valid"] is True


@pytest.mark.parametrize("data", [b"garbage", b"%PDF-1.7 broken", b"\x30\x03\x02\x01\x01", b"<a>"])
async def test_garbage_is_a_report_not_a_traceback(data: bytes) -> None:
    try:
        report = await verify_bytes(data, "x", VerifyOptions())
    except Exception as exc:  # only our clear errors may escape
        from sceau.errors import SceauError

        assert isinstance(exc, SceauError)
        return
    assert not report.valid


async def test_xades_properties_must_be_signed(make_key: Callable[[str, str], TokenKey], fpki: DevPki) -> None:
    """A cryptographically valid signature whose SignedInfo does not cover SignedProperties is refused."""
    from lxml import etree

    from sceau.formats import xmldsig
    from sceau.tokens.base import Digest

    key = make_key("p12", "sign-rsa2048")
    ref = xmldsig.Reference(uri="a.txt", digest_value=Digest.SHA256.digest(DOC), ref_id="R0")
    sig = xmldsig.build_signature(
        references=[ref],
        signature_method=key.xml_signature_uri(Digest.SHA256),
        digest=Digest.SHA256,
        certificates=[key.certificate, *key.chain],
        options=xmldsig.XadesOptions(),
    )
    sp_ref = sig.find(f".//{{{xmldsig.DS}}}Reference[@Type='{xmldsig.SIGNED_PROPS_TYPE}']")
    assert sp_ref is not None
    sp_ref.getparent().remove(sp_ref)  # type: ignore[union-attr]
    xmldsig.set_signature_value(sig, await key.sign(xmldsig.signed_info_c14n(sig), Digest.SHA256))
    report = await verify_bytes(
        etree.tostring(sig), "a.xml", VerifyOptions(anchors(fpki), detached=DOC, detached_name="a.txt")
    )
    assert report.signatures[0].integrity and not report.valid
    assert "The XAdES signed properties are not covered by the signature." in report.signatures[0].problems
