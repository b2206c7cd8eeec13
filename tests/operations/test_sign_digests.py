"""`sign-digests`: ACTES CMS over a SHA-1 the page gave (openssl cms -verify against the file), PES
signatures from bordereau digests (xmlsec1 after the server-style insertion, every bordereau), raw
data-to-sign; one consent and one PIN for the batch; bad input refused before anything is signed."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from sceau.config import Config
from sceau.devkit import pki as devpki
from sceau.devkit import softhsm, verifiers
from sceau.devkit.pki import DevPki
from sceau.errors import BadRequest, SceauError, TooLarge, Unsupported, UserCancelled
from sceau.operations.context import OperationContext
from sceau.operations.sign_digests import OPERATION
from sceau.tokens.base import TokenBackend
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.pkcs12 import Pkcs12Backend
from sceau.tokens.registry import TokenManager
from sceau.ui.headless import HeadlessUI
from sceau_rp import libersign as rp

ORIGIN = "https://s2low.example.fr"
HELIOS_POLICY = {
    "identifier": "urn:oid:1.2.250.1.131.1.5.18.21.1.7",
    "description": "Politique de signature Helios de la DGFiP",
    "hash": "roF9+cfRHNPtVJolhdqfIqGMVuUXX8aR4rpiquf0u5E=",
    "spuri": "https://www.collectivites-locales.gouv.fr/files/files/finances_locales/dematerialisation/ps_helios_dgfip.pdf",
}
PES = (
    '<?xml version="1.0" encoding="ISO-8859-1"?>\n<PES_Aller><EnTetePES><CodCol V="123"/></EnTetePES>'
    '<PES_DepenseAller>\n  <Bordereau Id="BORD1"><BlocBordereau><IdBord V="1"/></BlocBordereau>'
    '<Libelle V="Crèche été"/></Bordereau>\n  <Bordereau Id="BORD2"><Libelle V="Défi &amp; œuvre"/></Bordereau>\n'
    '  <Bordereau Id="BORD3"><Libelle V="Goûter"/><!-- note --></Bordereau>\n</PES_DepenseAller></PES_Aller>\n'
).encode("iso-8859-1", errors="xmlcharrefreplace")
_MANAGERS: list[TokenManager] = []


@pytest.fixture(autouse=True)
def _close() -> Iterator[None]:
    yield
    for manager in _MANAGERS:
        manager.close()
    _MANAGERS.clear()


def handle(pki: DevPki, name: str) -> str:
    return hashlib.sha256(pki.cert(name).public_bytes(Encoding.DER)).hexdigest()[:32]


def make_ctx(pki: DevPki, backends: list[TokenBackend], ui: HeadlessUI) -> OperationContext:
    manager = TokenManager(backends)
    _MANAGERS.append(manager)
    return OperationContext(ORIGIN, ui, manager, Config(trust_anchors=(str(pki.chain),)), TokenExecutor())


def pes_item(info: rp.PesSignatureInfo, **extra: Any) -> dict[str, Any]:
    return {
        "format": "pes",
        "hashes": info.hashes,
        "ids": info.ids,
        "policy": HELIOS_POLICY,
        "claimedRole": "Ordonnateur",
        "city": "Orléans",
        "postalCode": "45000",
        "country": "France",
        "encoding": "iso-8859-1",
        **extra,
    }


def actes_pem(signature_b64: str) -> str:
    """What a LiberSign page returns for CMS: base64 of the PEM (the compat script does this)."""
    body = "\n".join(signature_b64[i : i + 64] for i in range(0, len(signature_b64), 64))
    pem = f"-----BEGIN PKCS7-----\n{body}\n-----END PKCS7-----\n"
    return base64.b64encode(pem.encode()).decode()


async def test_actes_and_pes_one_consent_one_pin_checked_by_openssl_and_xmlsec1(
    pki: DevPki, softhsm_module: str, tmp_path: Path
) -> None:
    files = [f"Délibération {n} du conseil".encode() * (n + 1) for n in range(3)]
    info = rp.pes_signature_info(PES)
    assert info.is_bordereau and info.ids == ["BORD1", "BORD2", "BORD3"]
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True)
    ctx = make_ctx(pki, [Pkcs11Backend([softhsm_module])], ui)
    items = [{"format": "cms", "hash": rp.sha1_hex(f), "hashAlgorithm": "sha1"} for f in files]
    items.append(pes_item(info))
    result = await OPERATION.run(ctx, OPERATION.parse({"items": items, "certificate": handle(pki, "sign-rsa3072")}))
    assert len(ui.consents) == 1 and len(ui.pin_requests) == 1
    consent = ui.consents[0]
    assert [d.sha256_hex for d in consent.documents[:3]] == [rp.sha1_hex(f) for f in files]
    assert "BORD1, BORD2, BORD3" in consent.detail and HELIOS_POLICY["identifier"] in consent.detail
    assert "Ordonnateur" in consent.detail
    assert [r["format"] for r in result["results"]] == ["cms", "cms", "cms", "pes"]
    for n, (item, content) in enumerate(zip(result["results"], files, strict=False)):
        returned = actes_pem(item["signature"])
        (tmp_path / f"sig{n}.pem").write_bytes(base64.b64decode(returned))
        (tmp_path / f"file{n}").write_bytes(content)
        res = verifiers.openssl_cms_verify(
            tmp_path / f"sig{n}.pem", content=tmp_path / f"file{n}", trusted=pki.chain, inform="PEM"
        )
        assert res.ok, res.stderr
        # The signature is over *this* file: another one is refused.
        other = verifiers.openssl_cms_verify(
            tmp_path / f"sig{n}.pem",
            content=tmp_path / f"file{(n + 1) % 3}" if n < 2 else tmp_path / "file0",
            trusted=pki.chain,
            inform="PEM",
        )
        assert not other.ok
        assert rp.verify_actes_signature(
            returned, content, trusted=[x509.load_pem_x509_certificate(pki.root_ca.read_bytes())]
        ) == pki.cert("sign-rsa3072")
    pes_docs = result["results"][3]["signatures"]
    assert len(pes_docs) == 3
    for doc in pes_docs:
        xml = base64.b64decode(doc)
        assert xml.startswith(b"<?xml") and b"><ds:Signature " in xml  # first child, no whitespace
    signed = rp.insert_pes_signatures(PES, ",".join(pes_docs))
    (tmp_path / "signed.xml").write_bytes(signed)
    root = etree.fromstring(signed)
    for bordereau in root.iter("Bordereau"):
        assert bordereau[-1].tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"
        res = verifiers.xmlsec_verify(
            tmp_path / "signed.xml",
            trusted=pki.root_ca,
            untrusted=pki.intermediate_ca,
            id_attrs=verifiers.PES_IDS,
            node_id=bordereau[-1].get("Id"),
        )
        assert res.ok, res.stderr
    checks = rp.verify_pes_signatures(signed)
    assert [c.target_id for c in checks] == info.ids
    assert {c.policy_identifier for c in checks} == {HELIOS_POLICY["identifier"]}
    assert {c.policy_hash for c in checks} == {HELIOS_POLICY["hash"]}
    # A changed bordereau breaks its signature, for xmlsec1 and for the kit.
    tampered = signed.replace("Goûter".encode("iso-8859-1"), b"Gouter")
    (tmp_path / "tampered.xml").write_bytes(tampered)
    sig3 = etree.fromstring(tampered).findall(".//Bordereau")[2][-1].get("Id")
    bad = verifiers.xmlsec_verify(
        tmp_path / "tampered.xml",
        trusted=pki.root_ca,
        untrusted=pki.intermediate_ca,
        id_attrs=verifiers.PES_IDS,
        node_id=sig3,
    )
    assert not bad.ok
    with pytest.raises(rp.SignatureCheckError):
        rp.verify_pes_signatures(tampered)


async def test_twenty_siginfos_one_consent_one_pin_results_in_order(pki: DevPki) -> None:
    ui = HeadlessUI(pin=devpki.P12_PASSWORD, approve=True)
    ctx = make_ctx(pki, [Pkcs12Backend([Path(pki["sign-ec256"].p12)])], ui)
    files = [b"acte %d" % n for n in range(20)]
    items = [{"format": "cms", "hash": rp.sha1_hex(f)} for f in files]
    result = await OPERATION.run(ctx, OPERATION.parse({"items": items}))
    assert len(ui.consents) == 1 and len(ui.consents[0].documents) == 20
    assert len(ui.pin_requests) == 1
    for item, content in zip(result["results"], files, strict=True):
        rp.verify_actes_signature(actes_pem(item["signature"]), content)  # in order: each fits its file


async def test_raw_data_to_sign_verifies(pki: DevPki) -> None:
    ui = HeadlessUI(pin=devpki.P12_PASSWORD, approve=True)
    ctx = make_ctx(pki, [Pkcs12Backend([Path(pki["sign-rsa2048"].p12)])], ui)
    data = [b"<ds:SignedInfo>1</ds:SignedInfo>", b"signed attributes 2"]
    items = [{"format": "raw", "data": base64.b64encode(d).decode()} for d in data]
    result = await OPERATION.run(ctx, OPERATION.parse({"items": items}))
    cert = pki.cert("sign-rsa2048")
    for item, d in zip(result["results"], data, strict=True):
        rp.verify_data_signature(d, base64.b64decode(item["signature"]), cert)
    with pytest.raises(rp.SignatureCheckError):
        rp.verify_data_signature(data[1], base64.b64decode(result["results"][0]["signature"]), cert)


async def test_refused_consent_signs_nothing(pki: DevPki, softhsm_module: str) -> None:
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=False)
    ctx = make_ctx(pki, [Pkcs11Backend([softhsm_module])], ui)
    args = {"items": [{"format": "cms", "hash": "a" * 40}], "certificate": handle(pki, "sign-rsa3072")}
    with pytest.raises(UserCancelled):
        await OPERATION.run(ctx, OPERATION.parse(args))
    assert len(ui.consents) == 1 and ui.pin_requests == []  # refused before the PIN: no key used


GOOD_PES = pes_item(rp.PesSignatureInfo(["ab" * 32, "cd" * 32], ["B1", "B2"], True))


@pytest.mark.parametrize(
    ("items", "error"),
    [
        ([{"format": "cms", "hash": "abc"}], BadRequest),  # wrong length for SHA-1
        ([{"format": "cms", "hash": "z" * 40}], BadRequest),  # not hex
        ([{"format": "cms", "hash": "a" * 64}], BadRequest),  # SHA-256 length announced as SHA-1
        ([{"format": "cms", "hash": "a" * 40, "hashAlgorithm": "md5"}], BadRequest),
        ([{"format": "PKCS7-fancy", "hash": "a" * 40}], Unsupported),  # unknown format
        ([{**GOOD_PES, "ids": ["B1"]}], BadRequest),  # pesid count ≠ hash count
        ([{**GOOD_PES, "policy": {**HELIOS_POLICY, "identifier": ""}}], BadRequest),  # missing policy field
        ([{**GOOD_PES, "policy": {k: v for k, v in HELIOS_POLICY.items() if k != "spuri"}}], BadRequest),
        ([{**GOOD_PES, "policy": {**HELIOS_POLICY, "hash": "not base64!"}}], BadRequest),
        ([{k: v for k, v in GOOD_PES.items() if k != "policy"}], BadRequest),
        ([{k: v for k, v in GOOD_PES.items() if k != "claimedRole"}], BadRequest),
        ([{**GOOD_PES, "ids": ["B1", "<x/>"]}], BadRequest),  # not an XML Id
        ([{**GOOD_PES, "hashes": ["ab" * 20, "cd" * 20]}], BadRequest),  # PES digests are SHA-256
        ([{**GOOD_PES, "encoding": "utf-16"}], BadRequest),
        ([{"format": "raw", "data": "%%%"}], BadRequest),
        ([{"format": "cms", "hash": "a" * 40}] * 10_000, TooLarge),  # 10 000 siginfos
        ([pes_item(rp.PesSignatureInfo(["ab" * 32] * 1001, [f"B{n}" for n in range(1001)], True))], TooLarge),
        ([], BadRequest),
        (["not an object"], BadRequest),
    ],
)
def test_bad_input_is_refused_with_a_clear_code(items: list[Any], error: type[SceauError]) -> None:
    with pytest.raises(error) as info:
        OPERATION.parse({"items": items})
    assert info.value.message and "Traceback" not in info.value.message
