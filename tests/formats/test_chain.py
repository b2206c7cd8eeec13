"""The certificate chain travels with every signature, even when the token holds only the signer's
certificate: checked by tools that are given the root alone (openssl cms, xmlsec1, pyHanko).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from cryptography import x509
from lxml import etree
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature

from sceau.devkit import pki as devpki
from sceau.devkit import softhsm, verifiers
from sceau.devkit.pki import DevPki
from sceau.formats import cades, pades, pes, xades, xmldsig
from sceau.formats.ltv import load_anchors, split_anchors
from sceau.formats.options import SignOptions
from sceau.formats.signer import TokenKey
from sceau.tokens.pkcs11 import Pkcs11Backend

from .conftest import FORMATS_TOKEN
from .pdfs import make_pdf
from .test_cades import openssl_cms_verify_result
from .test_pades import KU, _vc
from .test_pes import make_pes

DOC = "Mémoire technique — lot 2.\n".encode() * 40
INTERMEDIATE_CN = "Sceau Test AC Personnes RGS"


def bare_token_key(p11: Pkcs11Backend, name: str) -> TokenKey:
    """The SoftHSM2 key as the agent sees it: no chain given, and none on the token."""
    tokens = [t for t in p11.tokens() if t.info.label == FORMATS_TOKEN]
    if not tokens:
        pytest.skip("SoftHSM2 formats token not available")
    entry = next(e for e in tokens[0].certificates() if e.label == name)
    assert entry.chain == ()  # the premise: the token holds no CA certificate
    return TokenKey(tokens[0], entry, lambda _r: softhsm.USER_PIN)


def config_anchors(pki: DevPki) -> list[x509.Certificate]:
    """`trust_anchors = [root, intermediate]` in the configuration, as the agent loads it."""
    return load_anchors([str(pki.root_ca), str(pki.intermediate_ca)])


def openssl_cms_root_only(pki: DevPki, sig: bytes, content: bytes, tmp: Path) -> tuple[bool, str]:
    res = openssl_cms_verify_result(pki, sig, content, tmp)
    return res.ok, res.stderr


def embedded_cns(sig: bytes) -> set[str]:
    sd = cms.ContentInfo.load(sig)["content"]
    return {c.chosen.subject.native["common_name"] for c in sd["certificates"]}


def xmlsec_root_only(pki: DevPki, sig: bytes, tmp: Path, **how: Any) -> bool:
    (tmp / "sig.xml").write_bytes(sig)
    return verifiers.xmlsec_verify(tmp / "sig.xml", trusted=pki.root_ca, **how).ok


def test_split_anchors(fpki: DevPki) -> None:
    roots, intermediates = split_anchors(config_anchors(fpki))
    assert [c.subject for c in roots] == [c.subject for c in load_anchors([str(fpki.root_ca)])]
    assert [c.subject for c in intermediates] == [c.subject for c in load_anchors([str(fpki.intermediate_ca)])]


@pytest.mark.parametrize("name", ["sign-rsa2048", "sign-ec256"])
async def test_cades_from_token_verifies_against_root_only(
    name: str, formats_p11: Pkcs11Backend, fpki: DevPki, tmp_path: Path
) -> None:
    key = bare_token_key(formats_p11, name)
    sig = await cades.sign_detached(DOC, key, SignOptions(trust_anchors=config_anchors(fpki)))
    ok, err = openssl_cms_root_only(fpki, sig, DOC, tmp_path)
    assert ok, err
    assert INTERMEDIATE_CN in embedded_cns(sig)


async def test_without_the_intermediate_openssl_cannot_build_the_path(
    formats_p11: Pkcs11Backend, fpki: DevPki, tmp_path: Path
) -> None:
    """The failure the chain fixes (and the proof that the check above can fail)."""
    key = bare_token_key(formats_p11, "sign-rsa2048")
    sig = await cades.sign_detached(DOC, key, SignOptions(trust_anchors=load_anchors([str(fpki.root_ca)])))
    ok, err = openssl_cms_root_only(fpki, sig, DOC, tmp_path)
    assert not ok and "unable to get local issuer certificate" in err
    assert INTERMEDIATE_CN not in embedded_cns(sig)


async def test_token_chain_used_without_configuration(
    make_key: Callable[[str, str], TokenKey], fpki: DevPki, tmp_path: Path
) -> None:
    """A PKCS#12 file carries its CA certificates (CertificateEntry.chain): no configuration needed."""
    given = make_key("p12", "sign-rsa2048")
    key = TokenKey(given.token, given.entry, given.prompt)
    assert key.entry.chain and not key.chain
    sig = await cades.sign_detached(DOC, key, SignOptions())
    ok, err = openssl_cms_root_only(fpki, sig, DOC, tmp_path)
    assert ok, err


async def test_only_the_signers_issuers_are_embedded(
    make_key: Callable[[str, str], TokenKey], fpki: DevPki, tmp_path: Path
) -> None:
    """Another PKI's CAs, with the very same names, listed first: skipped (their keys did not sign)."""
    other = devpki.generate(tmp_path / "other")
    given = make_key("p12", "sign-ec256")
    key = TokenKey(given.token, replace(given.entry, chain=()), given.prompt)
    anchors = [*load_anchors([str(other.intermediate_ca), str(other.root_ca)]), *config_anchors(fpki)]
    sig = await cades.sign_detached(DOC, key, SignOptions(trust_anchors=anchors))
    sd = cms.ContentInfo.load(sig)["content"]
    assert len(sd["certificates"]) == 3  # signer, intermediate, root
    ok, err = openssl_cms_root_only(fpki, sig, DOC, tmp_path)
    assert ok, err


async def test_xades_from_token_carries_the_chain(formats_p11: Pkcs11Backend, fpki: DevPki, tmp_path: Path) -> None:
    key = bare_token_key(formats_p11, "sign-rsa2048")
    sig = await xades.sign_detached(DOC, "doc.txt", "text/plain", key, SignOptions(trust_anchors=config_anchors(fpki)))
    (tmp_path / "doc.txt").write_bytes(DOC)
    assert xmlsec_root_only(fpki, sig, tmp_path, url_map={"doc.txt": tmp_path / "doc.txt"})
    certs = etree.fromstring(sig).findall(
        f".//{{{xmldsig.DS}}}KeyInfo/{{{xmldsig.DS}}}X509Data/{{{xmldsig.DS}}}X509Certificate"
    )
    assert len(certs) == 3


async def test_pes_from_token_carries_the_chain(formats_p11: Pkcs11Backend, fpki: DevPki, tmp_path: Path) -> None:
    key = bare_token_key(formats_p11, "sign-ec256")
    signed = await pes.sign_pes(make_pes(), key, SignOptions(trust_anchors=config_anchors(fpki)))
    assert xmlsec_root_only(fpki, signed, tmp_path, id_attrs=verifiers.PES_IDS[:2])


async def test_pades_from_token_carries_the_chain(formats_p11: Pkcs11Backend, fpki: DevPki) -> None:
    key = bare_token_key(formats_p11, "sign-rsa2048")
    signed = await pades.sign_pdf(make_pdf(), key, SignOptions(trust_anchors=config_anchors(fpki)))
    sig = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    subjects = {c.chosen.subject.native["common_name"] for c in sig.signed_data["certificates"]}
    assert INTERMEDIATE_CN in subjects
    # pyHanko given the root alone (no other certificates) finds the path in the signature.
    status = await async_validate_pdf_signature(sig, _vc(fpki, allow_fetching=False), key_usage_settings=KU)
    assert status.intact and status.valid and status.trusted
