"""XAdES detached: checked by `xmlsec1 --verify` run from an empty directory (DESIGN.md §7)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from sceau.devkit import verifiers
from sceau.devkit.pki import DevPki
from sceau.errors import InvalidInput
from sceau.formats import xades, xmldsig, xmlsafe
from sceau.formats.options import Level, SignOptions
from sceau.formats.signer import TokenKey
from sceau.formats.tsp import TsaClient

from .conftest import BACKENDS, KEYS
from .test_cades import openssl_ts_verify

NAME = "Acte d'engagement é.pdf"
DOC = b"%PDF-1.4\n% fake but any bytes do\n" * 100
SP_ID_ATTR = f"--id-attr:Id {xmldsig.XADES132}:SignedProperties"


def xmlsec_verify(pki: DevPki, sig: bytes, doc_name: str, doc: bytes, tmp: Path) -> bool:
    (tmp / "doc.bin").write_bytes(doc)
    (tmp / "sig.xml").write_bytes(sig)
    return verifiers.xmlsec_verify(
        tmp / "sig.xml", trusted=pki.root_ca, untrusted=pki.intermediate_ca, url_map={doc_name: tmp / "doc.bin"}
    ).ok


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", KEYS)
async def test_b_b_verifies_with_xmlsec(
    backend: str, name: str, make_key: Callable[[str, str], TokenKey], fpki: DevPki, tmp_path: Path
) -> None:
    key = make_key(backend, name)
    sig = await xades.sign_detached(DOC, NAME, "application/pdf", key, SignOptions())
    assert xmlsec_verify(fpki, sig, NAME, DOC, tmp_path)
    assert not xmlsec_verify(fpki, sig, NAME, DOC[:-1] + b"X", tmp_path)
    root = xmlsafe.parse_xml(sig).getroot()
    ns = {"ds": xmldsig.DS, "x": xmldsig.XADES132}
    assert root.findtext(".//x:MimeType", namespaces=ns) == "application/pdf"
    assert root.find(".//x:SigningCertificateV2", namespaces=ns) is not None
    assert root.find(".//x:SigningTime", namespaces=ns) is not None


@pytest.mark.parametrize("backend", BACKENDS)
async def test_b_t_timestamp(
    backend: str, make_key: Callable[[str, str], TokenKey], fpki: DevPki, tsa: TsaClient, tmp_path: Path
) -> None:
    key = make_key(backend, "sign-ec256" if backend == "p11" else "sign-rsa2048")
    sig = await xades.sign_detached(DOC, NAME, "application/pdf", key, SignOptions(level=Level.B_T, tsa=tsa))
    assert xmlsec_verify(fpki, sig, NAME, DOC, tmp_path)
    root = xmlsafe.parse_xml(sig).getroot()
    ns = {"ds": xmldsig.DS, "x": xmldsig.XADES132}
    token = base64.b64decode(root.findtext(".//x:EncapsulatedTimeStamp", namespaces=ns) or "")
    imprint = hashlib.sha256(xmldsig.c14n(root.find("ds:SignatureValue", namespaces=ns))).digest()
    assert openssl_ts_verify(fpki, token, imprint, tmp_path)


async def test_b_lt_values(
    make_key: Callable[[str, str], TokenKey], fpki: DevPki, tsa: TsaClient, tmp_path: Path
) -> None:
    key = make_key("p11", "sign-rsa2048")
    sig = await xades.sign_detached(DOC, "BPU.rtf", "application/rtf", key, SignOptions(level=Level.B_LT, tsa=tsa))
    assert xmlsec_verify(fpki, sig, "BPU.rtf", DOC, tmp_path)
    root = etree.fromstring(sig)
    ns = {"x": xmldsig.XADES132}
    assert root.findall(".//x:CertificateValues/x:EncapsulatedX509Certificate", namespaces=ns)
    assert root.findall(".//x:RevocationValues/*/*", namespaces=ns)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"""
XXE16 = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE, XXE16.encode("utf-16")])
def test_entities_refused_before_parsing(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        xmlsafe.parse_xml(data)


def test_malformed_xml() -> None:
    with pytest.raises(InvalidInput):
        xmlsafe.parse_xml(b"<a><b></a>")
