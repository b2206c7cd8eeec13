"""PES V2: enveloped XAdES-EPES 1.2.2 per Bordereau, checked by `xmlsec1 --verify`; bytes outside kept."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from sceau.devkit import verifiers
from sceau.devkit.pki import DevPki
from sceau.errors import InvalidInput
from sceau.formats import pes, xmldsig, xmlsafe
from sceau.formats.options import Level, SignOptions
from sceau.formats.signer import TokenKey
from sceau.formats.tsp import TsaClient

from .conftest import BACKENDS, KEYS

PES_NS = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller"


def make_pes(bordereaux: int = 2, ids: list[str | None] | None = None) -> bytes:
    """A synthetic PES_Aller in ISO-8859-1 with accented names, CRLF lines and a comment."""
    ids = ids or [f"BORD{i + 1}" for i in range(bordereaux)]
    parts = []
    for i, bid in enumerate(ids):
        id_attr = f' Id="{bid}"' if bid else ""
        parts.append(
            f'    <Bordereau{id_attr}>\r\n      <BlocBordereau><Exer V="2026"/><IdBord V="{i + 1}"/>'
            f'<Libelle V="Mandats de l\'été — crèche « Les Hérons »"/></BlocBordereau>\r\n'
            f'      <Piece><BlocPiece><IdPce V="{i + 10}"/><ObjPce V="Entretien de la mairie, Saint-Aubin-sur-Loire"/>'
            f'</BlocPiece><LigneDePiece><Tiers><Nom V="Bâtiments Durand SARL"/><Prenom V="Éloïse"/>'
            f"</Tiers></LigneDePiece></Piece>\r\n    </Bordereau>\r\n"
        )
    text = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\r\n'
        f'<n:PES_Aller xmlns:n="{PES_NS}" xmlns:xad="http://uri.etsi.org/01903/v1.2.2#">\r\n'
        "  <!-- généré par la suite de tests -->\r\n"
        '  <EnTetePES><DteStr V="2026-11-23"/><IdPost V="012345"/><LibelleColBud V="COMMUNE DE SAINT-AUBIN"/>'
        "</EnTetePES>\r\n"
        "  <PES_DepenseAller>\r\n" + "".join(parts) + "  </PES_DepenseAller>\r\n</n:PES_Aller>\r\n"
    )
    return text.replace("—", "-").encode("iso-8859-1")


def xmlsec_verify(pki: DevPki, data: bytes, sig_id: str, tmp: Path) -> bool:
    (tmp / "pes.xml").write_bytes(data)
    return verifiers.xmlsec_verify(
        tmp / "pes.xml", trusted=pki.root_ca, untrusted=pki.intermediate_ca, id_attrs=verifiers.PES_IDS, node_id=sig_id
    ).ok


def signature_ids(data: bytes) -> list[str]:
    root = xmlsafe.parse_xml(data).getroot()
    return [s.get("Id", "") for s in root.iter(f"{{{xmldsig.DS}}}Signature")]


def strip_signatures(data: bytes) -> bytes:
    """Remove inserted <ds:Signature ...>...</ds:Signature> byte ranges (our signatures carry no nesting)."""
    return re.sub(rb"<ds:Signature .*?</ds:Signature>", b"", data, flags=re.S)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", KEYS)
async def test_two_bordereaux_signed(
    backend: str, name: str, make_key: Callable[[str, str], TokenKey], fpki: DevPki, tmp_path: Path
) -> None:
    original = make_pes()
    key = make_key(backend, name)
    signed = await pes.sign_pes(original, key, SignOptions(), pes.PesOptions(city="Orléans", postal_code="45000"))
    assert signed.startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    assert strip_signatures(signed) == original  # every byte outside the signatures kept
    ids = signature_ids(signed)
    assert len(ids) == 2
    for sig_id in ids:
        assert xmlsec_verify(fpki, signed, sig_id, tmp_path)
    root = xmlsafe.parse_xml(signed).getroot()
    ns = {"x": xmldsig.XADES122, "ds": xmldsig.DS}
    assert root.findtext(".//x:SigPolicyId/x:Identifier", namespaces=ns) == "urn:oid:1.2.250.1.131.1.5.18.21.1.7"
    assert root.findtext(".//x:ClaimedRole", namespaces=ns) == "Ordonnateur"
    assert root.findtext(".//x:City", namespaces=ns) == "Orléans"
    for sig in root.iter(f"{{{xmldsig.DS}}}Signature"):
        assert sig.getparent().tag == "Bordereau"  # type: ignore[union-attr]
    # A second verifier, in process: signxml checks each signature's references and value too.
    cert_pem = key.certificate.public_bytes(Encoding.PEM).decode()
    assert verifiers.signxml_verify(signed, cert_pem) == [True, True]
    # One byte changed inside a signed bordereau: xmlsec1 refuses, and so does signxml.
    tampered = signed.replace("Bâtiments".encode("iso-8859-1"), b"Batiments", 1)
    assert not xmlsec_verify(fpki, tampered, ids[0], tmp_path)
    assert verifiers.signxml_verify(tampered, cert_pem) == [False, True]


async def test_second_signer_signs_whole_file(
    make_key: Callable[[str, str], TokenKey], fpki: DevPki, tsa: TsaClient, tmp_path: Path
) -> None:
    first = await pes.sign_pes(make_pes(), make_key("p11", "sign-rsa2048"), SignOptions(), pes.PesOptions())
    with pytest.raises(InvalidInput):
        await pes.sign_pes(first, make_key("p12", "sign-ec256"), SignOptions(), pes.PesOptions())
    second = await pes.sign_pes(
        first, make_key("p12", "sign-ec256"), SignOptions(level=Level.B_T, tsa=tsa), pes.PesOptions(whole=True)
    )
    ids = signature_ids(second)
    assert len(ids) == 3
    for sig_id in ids:
        assert xmlsec_verify(fpki, second, sig_id, tmp_path), sig_id


async def test_selected_bordereau_only(make_key: Callable[[str, str], TokenKey], fpki: DevPki, tmp_path: Path) -> None:
    signed = await pes.sign_pes(
        make_pes(3), make_key("p12", "sign-rsa2048"), SignOptions(), pes.PesOptions(bordereaux=["BORD2"])
    )
    root = etree.fromstring(signed)
    sigs = list(root.iter(f"{{{xmldsig.DS}}}Signature"))
    assert len(sigs) == 1 and sigs[0].getparent().get("Id") == "BORD2"  # type: ignore[union-attr]
    assert xmlsec_verify(fpki, signed, sigs[0].get("Id", ""), tmp_path)


@pytest.mark.parametrize(
    "data",
    [
        make_pes(ids=["B1", None]),  # Bordereau without Id
        make_pes(ids=["B1", "B1"]),  # duplicate Ids
        b'<?xml version="1.0"?><Autre/>',  # not a PES_Aller
        b'<?xml version="1.0"?><!DOCTYPE n [<!ENTITY e "x">]><PES_Aller><Bordereau Id="a">&e;</Bordereau></PES_Aller>',
        b"<PES_Aller><Bordereau Id='a'>",  # truncated
    ],
)
async def test_bad_pes_refused(data: bytes, make_key: Callable[[str, str], TokenKey]) -> None:
    with pytest.raises(InvalidInput):
        await pes.sign_pes(data, make_key("p12", "sign-rsa2048"), SignOptions())


def test_end_tags_skip_comments_and_quotes() -> None:
    data = b'<r a=">"><!-- </B> --><B x="</B>">t</B><![CDATA[</B>]]><p:B></p:B></r>'
    offsets = pes.end_tag_offsets(data, "B")
    assert [data[o : o + 4] for o in offsets] == [b"</B>", b"</p:"]
