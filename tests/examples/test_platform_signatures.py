"""Demo platform, server side: award signatures (PAdES/XAdES/CAdES), ACTES and Hélios checks.

Signatures are made by the product's format builders on PKCS#12 keys (what the agent returns to
the page) or by `openssl cms -sign`; PAdES results are cross-checked with poppler's `pdfsig`, and
each check is shown to fail on a tampered or foreign signature.
"""

from __future__ import annotations

import base64
from pathlib import Path

from aiohttp.test_utils import TestClient

from examples.platform import samples
from sceau.devkit import pki as devpki
from sceau.devkit import verifiers
from sceau.devkit.pki import DevPki
from sceau.formats import pades, pes, xades
from sceau.formats.options import SignOptions
from sceau.formats.signer import TokenKey
from sceau.tokens.pkcs12 import Pkcs12Token
from tests.examples.platform_testkit import Login, run


def key_of(pki: DevPki, identity: str) -> TokenKey:
    token = Pkcs12Token(Path(pki[identity].p12), devpki.P12_PASSWORD)
    return TokenKey(token, token.certificates()[0], lambda _r: devpki.P12_PASSWORD, chain=())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def sign_acte(pki: DevPki, identity: str, data: bytes | None = None) -> bytes:
    opts = pades.PadesOptions(reason="Attribution", visible=pades.VisibleSignature(box=samples.SIGNATURE_BOX))
    return await pades.sign_pdf(data or samples.acte_engagement(), key_of(pki, identity), SignOptions(), opts)


def foreign_cades(tmp: Path, data: bytes) -> bytes:
    """A CAdES signature by a self-signed certificate the platform does not trust."""
    (tmp / "doc.bin").write_bytes(data)
    assert (
        run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "k.pem",
                "-out",
                "c.pem",
                "-subj",
                "/CN=Inconnu/O=Ailleurs",
                "-days",
                "2",
            ],
            cwd=tmp,
        ).returncode
        == 0
    )
    res = run(
        [
            "openssl",
            "cms",
            "-sign",
            "-binary",
            "-in",
            "doc.bin",
            "-outform",
            "DER",
            "-signer",
            "c.pem",
            "-inkey",
            "k.pem",
        ],
        cwd=tmp,
    )
    assert res.returncode == 0
    return res.stdout


async def test_attribution_reports(client: TestClient, login: Login, pki: DevPki, tmp_path: Path) -> None:
    signed_pdf = await sign_acte(pki, "sign-rsa2048")
    (tmp_path / "ae.pdf").write_bytes(signed_pdf)
    pdfsig = verifiers.pdfsig(tmp_path / "ae.pdf").stdout
    assert "Signature is Valid" in pdfsig and "Marie Durand" in pdfsig  # independent of pyHanko
    bpu = samples.bpu()
    xml = await xades.sign_detached(bpu, "BPU.csv", "text/csv", key_of(pki, "sign-ec256"), SignOptions())
    (tmp_path / "bpu.csv").write_bytes(bpu)
    cades = run(
        [
            "openssl",
            "cms",
            "-sign",
            "-binary",
            "-in",
            "bpu.csv",
            "-outform",
            "DER",
            "-md",
            "sha256",
            "-signer",
            pki["sign-rsa2048"].cert,
            "-inkey",
            pki["sign-rsa2048"].key_pem,
        ],
        cwd=tmp_path,
    ).stdout

    body = {
        "signatures": [
            {"format": "pades", "data": b64(signed_pdf)},
            {"format": "xades", "data": b64(xml)},
            {"format": "cades", "data": b64(cades)},
        ]
    }
    assert (await client.post("/api/attribution", json=body)).status == 401
    await login(client, "auth-rsa2048")
    report = await (await client.post("/api/attribution", json=body)).json()
    assert report["valid"], report
    # Sceau's own verifier agrees with openssl, xmlsec1 and pyHanko (shown as a second opinion).
    assert all("Vérificateur Sceau (sceau.formats.verify) : valide." in r["details"] for r in report["reports"])
    by_format = {r["format"]: r for r in report["reports"]}
    assert by_format["PAdES"]["signer"] == "Marie Durand"
    assert any("visible : oui" in d for d in by_format["PAdES"]["details"])
    assert by_format["XAdES détachée"]["signer"] == "Élodie Moreau"
    assert by_format["CAdES détachée"]["organisation"] == "Bâtiments Durand SARL"

    # Tampered PDF (one byte of the signed range), XAdES over other bytes, foreign CAdES: all invalid.
    at = signed_pdf.index(b"Lot n")
    tampered_pdf = signed_pdf[:at] + b"Lot N" + signed_pdf[at + 5 :]
    other = await xades.sign_detached(bpu + b"x", "BPU.csv", "text/csv", key_of(pki, "sign-ec256"), SignOptions())
    for fmt, data in (("pades", tampered_pdf), ("xades", other), ("cades", foreign_cades(tmp_path, bpu))):
        report = await (
            await client.post("/api/attribution", json={"signatures": [{"format": fmt, "data": b64(data)}]})
        ).json()
        assert not report["valid"], (fmt, report)
        assert any("non valide" in d for d in report["reports"][0]["details"]), report
    resp = await client.post("/api/attribution", json={"signatures": [{"format": "pades", "data": b64(b"%PDF-1.7")}]})
    assert resp.status == 422
    resp = await client.post("/api/attribution", json={"signatures": [{"format": "docx", "data": "AA=="}]})
    assert resp.status == 422
    assert (await client.post("/api/attribution", data=b"{not json")).status == 400


async def test_actes_transmission(client: TestClient, login: Login, pki: DevPki) -> None:
    form = {"nature": "CC", "numero": "2026_042", "objet": "Attribution du marché 2026-017", "format": "pades"}
    await login(client, "auth-rsa2048")
    assert (await client.post("/api/actes", json=form)).status == 403  # a company cannot transmit acts
    await login(client, "auth-rsa3072")  # Jean Lefèvre, Commune de Saint-Aubin-sur-Loire
    result = await (
        await client.post("/api/actes", json={**form, "document": b64(await sign_acte(pki, "sign-ec256"))})
    ).json()
    assert result["valid"], result
    assert result["ar"]["identifiant"].startswith("049-214901234-") and result["ar"]["identifiant"].endswith(
        "-2026_042-CC"
    )
    # Signed by someone outside the collectivité: refused although the signature itself is valid.
    result = await (
        await client.post("/api/actes", json={**form, "document": b64(await sign_acte(pki, "sign-rsa2048"))})
    ).json()
    assert not result["valid"] and "collectivité" in result["error"] and "ar" not in result
    pdf = samples.acte_engagement()
    sig = await _openssl_cades(pki, pdf)
    result = await (
        await client.post("/api/actes", json={**form, "format": "cades", "document": b64(pdf), "signature": b64(sig)})
    ).json()
    assert result["valid"], result
    for bad in ({"numero": "42/2026"}, {"nature": "XX"}, {"objet": ""}):
        resp = await client.post("/api/actes", json={**form, "document": b64(pdf), **bad})
        assert resp.status == 422, bad


async def _openssl_cades(pki: DevPki, data: bytes) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "acte.pdf").write_bytes(data)
        res = run(
            [
                "openssl",
                "cms",
                "-sign",
                "-binary",
                "-in",
                "acte.pdf",
                "-outform",
                "DER",
                "-md",
                "sha256",
                "-signer",
                pki["sign-ec256"].cert,
                "-inkey",
                pki["sign-ec256"].key_pem,
            ],
            cwd=Path(tmp),
        )
        assert res.returncode == 0
        return res.stdout


async def test_helios_pes(client: TestClient, login: Login, pki: DevPki) -> None:
    original = samples.pes_aller()
    assert original.decode("iso-8859-1").count("<Bordereau Id=") == 2
    signed = await pes.sign_pes(original, key_of(pki, "sign-ec256"), SignOptions(), pes.PesOptions())
    await login(client, "auth-rsa3072")
    report = await (await client.post("/api/helios", data=signed)).json()
    assert report["valid"], report
    assert sorted(r["document"] for r in report["reports"]) == ["Bordereau BORD1", "Bordereau BORD2"]
    assert all(r["signer"] == "Élodie Moreau" for r in report["reports"])
    assert all("Vérificateur Sceau (sceau.formats.verify) : valide." in r["details"] for r in report["reports"])

    tampered = signed.replace("Papèterie".encode("iso-8859-1"), b"Papeterie", 1)
    report = await (await client.post("/api/helios", data=tampered)).json()
    assert not report["valid"]
    assert [r["valid"] for r in report["reports"]].count(False) == 1
    only_first = await pes.sign_pes(
        original, key_of(pki, "sign-ec256"), SignOptions(), pes.PesOptions(bordereaux=["BORD1"])
    )
    report = await (await client.post("/api/helios", data=only_first)).json()
    assert not report["valid"] and any("non signé" in " ".join(r["details"]) for r in report["reports"])
    for bad in (original, b"<?xml version='1.0'?><a/>", b"<!DOCTYPE x [<!ENTITY e 'x'>]><x>&e;</x>"):
        assert (await client.post("/api/helios", data=bad)).status == 422
