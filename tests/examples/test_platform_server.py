"""Demo platform, server side: pages, certificate login, deposit checks, bid opening.

Plis are made by `openssl cms -encrypt` and opened again by `openssl cms -decrypt`; signatures
inside opened plis are made by `openssl cms -sign`: the platform's checks face independent tools.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from sceau.devkit.pki import DevPki
from tests.examples.platform_testkit import ORIGIN, Login, make_auth_token, run


async def test_pages_render_in_french_and_need_login(client: TestClient) -> None:
    resp = await client.get("/")
    text = await resp.text()
    assert resp.status == 200 and 'lang="fr"' in text and "Marchés publics" in text
    assert "script-src" not in resp.headers["Content-Security-Policy"]  # default-src 'self': no CDN, no inline
    resp = await client.get("/depot", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/connexion?suite=/depot"
    lib = await client.get("/sceau.js")
    assert lib.status == 200 and lib.content_type == "text/javascript"
    assert 'from "./protocol.json"' in await lib.text()
    proto = await client.get("/protocol.json")
    assert proto.content_type == "application/json" and "authenticate" in (await proto.json())["pageCommands"]
    css = await client.get("/static/style.css")
    assert css.status == 200 and "http" not in await css.text()


async def test_login_opens_a_session_with_siren(client: TestClient, login: Login) -> None:
    user = await login(client, "auth-rsa2048")
    assert user["name"] == "Marie Durand"
    assert user["organisation"] == "Bâtiments Durand SARL"
    assert user["organisationId"] == "NTRFR-552100554" and user["siren"] == "552100554"
    session = await (await client.get("/api/session")).json()
    assert session["user"]["siren"] == "552100554"
    page = await (await client.get("/depot")).text()
    assert "Marie Durand" in page and "SIREN 552100554" in page
    await client.post("/deconnexion", allow_redirects=False)
    assert (await (await client.get("/api/session")).json())["user"] is None


async def test_login_ec_key(client: TestClient, login: Login) -> None:
    user = await login(client, "auth-ec256")
    assert user["name"] == "Élodie Moreau" and user["algorithm"] == "ES256"


async def _try_login(
    client: TestClient,
    pki: DevPki,
    identity: str,
    *,
    origin: str = ORIGIN,
    nonce: str | None = None,
    reuse: bool = False,
) -> tuple[int, dict[str, str]]:
    nonce = nonce or (await (await client.post("/api/defi")).json())["nonce"]
    body = {"nonce": nonce, "token": make_auth_token(pki, identity, origin, nonce)}
    resp = await client.post("/api/connexion", json=body)
    if reuse:
        resp = await client.post("/api/connexion", json=body)
    return resp.status, await resp.json()


async def test_login_refusals(client: TestClient, pki: DevPki) -> None:
    status, body = await _try_login(client, pki, "auth-rsa2048", origin="http://localhost:9999")
    assert status == 401 and body["reason"] == "signature"
    status, body = await _try_login(client, pki, "auth-rsa2048", nonce="A" * 44)
    assert status == 401 and body["reason"] == "nonce-unknown"
    status, body = await _try_login(client, pki, "sign-rsa2048")
    assert status == 401 and body["reason"] == "certificate-purpose"
    status, body = await _try_login(client, pki, "auth-expired")
    assert status == 401 and body["reason"] == "certificate-expired"
    status, body = await _try_login(client, pki, "auth-revoked")  # in the demo CA's CRL
    assert status == 401 and body["reason"] == "revoked"
    resp = await client.post("/api/connexion", data=b"not json")
    assert resp.status == 400
    assert (await (await client.get("/api/session")).json())["user"] is None
    # A nonce is good for one login only.
    status, body = await _try_login(client, pki, "auth-rsa2048", reuse=True)
    assert status == 401 and body["reason"] == "nonce-unknown"


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def _encrypt(tmp: Path, data: bytes, recipients: list[str]) -> bytes:
    (tmp / "plain.bin").write_bytes(data)
    cmd = [
        "openssl",
        "cms",
        "-encrypt",
        "-binary",
        "-aes-256-cbc",
        "-in",
        "plain.bin",
        "-outform",
        "DER",
        "-out",
        "pli.p7m",
        *recipients,
    ]
    res = run(cmd, cwd=tmp)
    assert res.returncode == 0, res.stderr
    return (tmp / "pli.p7m").read_bytes()


def _sign_detached(tmp: Path, pki: DevPki, data: bytes, identity: str = "sign-rsa2048") -> bytes:
    (tmp / "doc.bin").write_bytes(data)
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
            "-out",
            "doc.p7s",
            "-signer",
            pki[identity].cert,
            "-inkey",
            pki[identity].key_pem,
            "-md",
            "sha256",
        ],
        cwd=tmp,
    )
    assert res.returncode == 0, res.stderr
    return (tmp / "doc.p7s").read_bytes()


async def test_deposit_checks_envelope_and_opening_verifies_signatures(
    client: TestClient, login: Login, pki: DevPki, tmp_path: Path
) -> None:
    memoire = "Mémoire technique — méthodologie".encode() * 100
    plain = _zip(
        {
            "Mémoire technique.pdf": memoire,
            "Mémoire technique.pdf - Signature 1.p7s": _sign_detached(tmp_path, pki, memoire),
        }
    )
    both = [pki["enc-rsa3072"].cert, pki["enc-backup-rsa2048"].cert]
    pli = _encrypt(tmp_path, plain, both)

    assert (await client.post("/api/plis", data=pli)).status == 401
    await login(client, "auth-rsa2048")
    resp = await client.post("/api/plis", data=pli, headers={"X-Nom-Fichier": "offre%20Durand.zip.p7m"})
    assert resp.status == 200, await resp.text()
    receipt = (await resp.json())["receipt"]
    assert receipt["sha256"] == hashlib.sha256(pli).hexdigest() and receipt["size"] == len(pli)
    assert receipt["name"] == "offre Durand.zip.p7m" and receipt["envelope"] == "enveloped_data"
    assert receipt["algorithm"] == "aes256_cbc" and len(receipt["recipients"]) == 2
    assert receipt["timestamp"].endswith("+00:00") and "SIREN 552100554" in receipt["depositor"]

    # Only the buyer may fetch and open.
    url = f"/api/plis/{receipt['pli']}"
    assert (await client.get(url + "/pli.p7m")).status == 403
    await login(client, "auth-rsa3072")
    stored = await (await client.get(url + "/pli.p7m")).read()
    assert stored == pli
    (tmp_path / "stored.p7m").write_bytes(stored)
    res = run(
        [
            "openssl",
            "cms",
            "-decrypt",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "stored.p7m",
            "-recip",
            pki["enc-backup-rsa2048"].cert,
            "-inkey",
            pki["enc-backup-rsa2048"].key_pem,
        ],
        cwd=tmp_path,
    )
    assert res.returncode == 0 and res.stdout == plain  # the backup key opens it too

    report = await (await client.post(url + "/ouverture", data=plain)).json()
    assert {f["name"] for f in report["files"]} == {"Mémoire technique.pdf", "Mémoire technique.pdf - Signature 1.p7s"}
    assert report["signed"] and report["valid"], report
    assert report["signatures"][0]["signer"] == "Marie Durand"
    assert "Vérificateur Sceau (sceau.formats.verify) : valide." in report["signatures"][0]["details"]
    # The level from the demo's trusted lists (its CA is a granted CA/QC service of the FR list;
    # the demo certificates carry no QC statement, so: advanced, not qualified).
    level = report["signatures"][0]["level"]
    assert level.startswith("Niveau : Signature électronique avancée (non qualifiée)"), level
    assert "Le certificat n'est pas qualifié (pas de déclaration QcCompliance)" in level
    assert "liste de confiance FR" in level and "accordé" in level

    tampered = _zip(
        {
            "Mémoire technique.pdf": memoire + b"!",
            "Mémoire technique.pdf - Signature 1.p7s": _sign_detached(tmp_path, pki, memoire),
        }
    )
    report = await (await client.post(url + "/ouverture", data=tampered)).json()
    assert report["signed"] and not report["valid"]
    resp = await client.post(url + "/ouverture", data=b"not a zip")
    assert resp.status == 422


async def test_deposit_refusals(client: TestClient, login: Login, pki: DevPki, tmp_path: Path) -> None:
    await login(client, "auth-rsa2048")
    only_buyer = _encrypt(tmp_path, b"offre", [pki["enc-rsa3072"].cert])
    resp = await client.post("/api/plis", data=only_buyer)
    assert resp.status == 422 and "clé de secours" in (await resp.json())["error"]
    wrong = _encrypt(tmp_path, b"offre", [pki["enc-rsa2048"].cert, pki["enc-backup-rsa2048"].cert])
    resp = await client.post("/api/plis", data=wrong)
    assert resp.status == 422 and "Jean Lefèvre" in (await resp.json())["error"]
    signed_not_encrypted = _sign_detached(tmp_path, pki, b"offre")
    resp = await client.post("/api/plis", data=signed_not_encrypted)
    assert resp.status == 422 and "signed_data" in (await resp.json())["error"]
    for junk in (b"PK\x03\x04 plain zip", b"\x30\x82\xff\xff", b""):
        resp = await client.post("/api/plis", data=junk)
        assert resp.status == 422, junk
    assert (await (await client.get("/api/plis")).json())["plis"] == []


async def test_recipients_and_samples(client: TestClient, pki: DevPki, tmp_path: Path) -> None:
    import base64

    from cryptography import x509

    recips = (await (await client.get("/api/destinataires")).json())["recipients"]
    certs = [x509.load_der_x509_certificate(base64.b64decode(r["certificate"])) for r in recips]
    assert certs == [pki.cert("enc-rsa3072"), pki.cert("enc-backup-rsa2048")]
    dce = await (await client.get("/dce/DCE-2026-017.zip")).read()
    with zipfile.ZipFile(io.BytesIO(dce)) as zf:
        assert zf.testzip() is None and len(zf.namelist()) == 4
        pdf = next(zf.read(n) for n in zf.namelist() if n.endswith("Acte d'engagement.pdf"))
    (tmp_path / "ae.pdf").write_bytes(pdf)
    res = run(["pdftotext", "ae.pdf", "-"], cwd=tmp_path)
    assert res.returncode == 0 and "Bâtiments Durand SARL" in res.stdout.decode()


async def test_opened_archive_is_bounded(
    client: TestClient, login: Login, pki: DevPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from examples.platform import checks

    await login(client, "auth-rsa2048")
    pli = _encrypt(tmp_path, b"x", [pki["enc-rsa3072"].cert, pki["enc-backup-rsa2048"].cert])
    receipt = (await (await client.post("/api/plis", data=pli)).json())["receipt"]
    await login(client, "auth-rsa3072")
    monkeypatch.setattr(checks, "MAX_ZIP_TOTAL", 1000)
    resp = await client.post(f"/api/plis/{receipt['pli']}/ouverture", data=_zip({"a": b"0" * 600, "b": b"0" * 600}))
    assert resp.status == 422 and "volumineuse" in (await resp.json())["error"]


def test_serve_reports_a_busy_port(pki: DevPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from examples.platform import serve

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert serve(pki, port, walkthrough=True, root=tmp_path / "demo") == 1
    out = capsys.readouterr().out
    assert str(port) in out and "Traceback" not in out
