"""Attached CAdES (the document inside the signature) and structure-first format detection.

Attached signatures come from `openssl cms -sign -nodetach` (DER, and BER streamed with -stream)
and from our own `cades.sign_attached`, which `openssl cms -verify` checks in turn.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from sceau.config import Config
from sceau.devkit.pki import DevPki
from sceau.formats import cades
from sceau.formats.options import SignOptions
from sceau.formats.signer import TokenKey
from sceau.formats.verify import VerifyOptions, content_name, detect, verify_bytes
from sceau.operations.context import OperationContext
from sceau.operations.verify import OPERATION
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.registry import TokenManager
from sceau.ui.headless import HeadlessUI

from .conftest import run
from .pdfs import make_pdf

PDF = make_pdf()


def root(pki: DevPki) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(Path(pki.root_ca).read_bytes())]


def openssl_attached(pki: DevPki, doc: bytes, tmp: Path, *extra: str) -> bytes:
    (tmp / "doc").write_bytes(doc)
    res = run(
        [
            "openssl",
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            *extra,
            "-in",
            str(tmp / "doc"),
            "-signer",
            pki["sign-rsa2048"].cert,
            "-inkey",
            pki["sign-rsa2048"].key_pem,
            "-certfile",
            str(pki.intermediate_ca),
            "-outform",
            "DER",
            "-out",
            str(tmp / "sig.p7m"),
        ]
    )
    assert res.returncode == 0, res.stderr
    return (tmp / "sig.p7m").read_bytes()


# -- detection -------------------------------------------------------------------------------------
def test_cms_wrapping_a_pdf_is_cms(fpki: DevPki, tmp_path: Path) -> None:
    sig = openssl_attached(fpki, PDF, tmp_path)
    assert b"%PDF-" in sig[:1024]  # what fooled the old detection
    assert detect(sig) == "cms"
    streamed = openssl_attached(fpki, PDF, tmp_path, "-stream")
    assert streamed[1] == 0x80 and b"%PDF-" in streamed[:1024]  # BER, indefinite length
    assert detect(streamed) == "cms"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PDF, "pdf"),
        (b"\x00" * 200 + PDF, "pdf"),  # junk before the header, within the first 1024 bytes
        (b"\xef\xbb\xbf\n<?xml version='1.0'?><a>%PDF-</a>", "xml"),
        (b"-----BEGIN CMS-----\nMIIB\n-----END CMS-----\n", "cms"),
        (b"\x30\x03\x02\x01\x01", "cms"),  # other DER: reported as a damaged CMS, not guessed
    ],
)
def test_detect(data: bytes, kind: str) -> None:
    assert detect(data) == kind


# -- attached CAdES --------------------------------------------------------------------------------
@pytest.mark.parametrize("streamed", [False, True])
async def test_attached_made_by_openssl(streamed: bool, fpki: DevPki, tmp_path: Path) -> None:
    sig = openssl_attached(fpki, PDF, tmp_path, *(["-stream"] if streamed else []))
    report = await verify_bytes(sig, "Acte_engagement.pdf.p7m", VerifyOptions(root(fpki)))
    assert report.format == "cades" and not report.error, report.error
    assert report.valid, report.text("en")
    assert report.content == PDF
    assert report.to_json("en")["content"] == {
        "name": "Acte_engagement.pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    assert "Acte_engagement.pdf" in report.text("en")


async def test_attached_content_changed(fpki: DevPki, tmp_path: Path) -> None:
    doc = b"Prix global et forfaitaire : 125 000 EUR HT\n" * 4
    sig = openssl_attached(fpki, doc, tmp_path)
    at = sig.index(b"125 000")
    forged = sig[:at] + b"925 000" + sig[at + 7 :]
    report = await verify_bytes(forged, "offre.txt.p7m", VerifyOptions(root(fpki)))
    assert not report.valid and not report.signatures[0].integrity
    assert report.content is not None and b"925 000" in report.content


async def test_attached_made_by_us(make_key: Callable[[str, str], TokenKey], fpki: DevPki, tmp_path: Path) -> None:
    sig = await cades.sign_attached(PDF, make_key("p11", "sign-ec256"), SignOptions())
    (tmp_path / "sig.p7m").write_bytes(sig)
    res = run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "sig.p7m"),
            "-CAfile",
            str(fpki.root_ca),
            "-purpose",
            "any",
            "-out",
            str(tmp_path / "out.pdf"),
        ]
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out.pdf").read_bytes() == PDF
    report = await verify_bytes(sig, "acte.pdf.p7m", VerifyOptions(root(fpki)))
    assert report.valid and report.content == PDF, report.text("en")
    # Given another document beside it: the signature is fine, but it does not sign that document.
    other = await verify_bytes(sig, "acte.pdf.p7m", VerifyOptions(root(fpki), detached=b"autre"))
    assert not other.valid and not other.signatures[0].integrity
    assert "The document given is not the one inside the signature." in other.signatures[0].problems


async def test_detached_still_verified(make_key: Callable[[str, str], TokenKey], fpki: DevPki) -> None:
    sig = await cades.sign_detached(PDF, make_key("p12", "sign-rsa2048"), SignOptions())
    report = await verify_bytes(sig, "acte.pdf - Signature 1.p7s", VerifyOptions(root(fpki), detached=PDF))
    assert report.valid and report.content is None and report.to_json("en")["content"] is None


@pytest.mark.parametrize(
    ("signed", "name"),
    [("acte.pdf.p7m", "acte.pdf"), ("ACTE.PDF.P7S", "ACTE.PDF"), ("pli.p7m", ""), ("acte.pdf", ""), (".p7m", "")],
)
def test_content_name(signed: str, name: str) -> None:
    assert content_name(signed) == name


async def test_verify_operation_hands_the_content_over(fpki: DevPki, tmp_path: Path) -> None:
    """The `verify` handler returns the document inside as a download transfer."""

    config = Config(trust_anchors=(str(fpki.root_ca),))
    ctx = OperationContext(
        "https://marches.example.fr", HeadlessUI(), TokenManager([]), config, TokenExecutor()
    )
    sig = openssl_attached(fpki, PDF, tmp_path)
    params = OPERATION.parse({"document": {"data": base64.b64encode(sig).decode()}, "name": "acte.pdf.p7m"})
    result = await OPERATION.run(ctx, params)
    assert result["valid"] and result["format"] == "cades"
    transfer = result["content"]["transfer"]
    assert transfer["name"] == "acte.pdf" and transfer["size"] == len(PDF)
    store = ctx.transfers()
    data, final = store.fetch_chunk(transfer["transfer"], 0)
    assert final and data == PDF
