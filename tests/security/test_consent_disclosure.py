"""Finding 6: every page-controlled parameter that changes what is signed or where data goes is shown
in the consent (format, level, stamp text, reason, location, certification, PES role and policy, items)
or bounded by configuration (TSA URLs); names the page supplied are marked as such."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from sceau.config import Config
from sceau.devkit import pki as devpki
from sceau.devkit.pki import DevPki
from sceau.errors import BadRequest
from sceau.operations.context import OperationContext
from sceau.operations.sign_documents import OPERATION
from sceau.operations.sign_hash import OPERATION as SIGN_HASH
from sceau.protocol.codes import OperationKind
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.pkcs12 import Pkcs12Backend
from sceau.tokens.registry import TokenManager
from sceau.ui import presenter
from sceau.ui.headless import HeadlessUI
from tests.formats.pdfs import make_pdf
from tests.operations.test_sign_documents import PES

ORIGIN = "https://marches.example.fr"


def ctx_for(pki: DevPki, ui: HeadlessUI, config: Config | None = None) -> OperationContext:
    files = [Path(pki["sign-rsa2048"].p12)]
    manager = TokenManager([Pkcs12Backend(files, {f: devpki.P12_PASSWORD for f in files})])
    return OperationContext(ORIGIN, ui, manager, config or Config(), TokenExecutor())


def doc(name: str, data: bytes, fmt: str) -> dict[str, object]:
    return {"name": name, "data": base64.b64encode(data).decode(), "format": fmt}


async def test_consent_shows_pades_and_pes_parameters(pki: DevPki) -> None:
    ui = HeadlessUI(approve=True)
    args = {
        "documents": [doc("Acte.pdf", make_pdf(), "pades"), doc("PES.xml", PES, "pes")],
        "options": {
            "pades": {
                "reason": "Notification du marché",
                "location": "Orléans",
                "certify": True,
                "docmdp": "no-changes",
                "visible": {"page": 1, "text": "Bon pour accord — 1 000 000 €"},
            },
            "pes": {"claimedRole": "Comptable public", "city": "Tours"},
        },
    }
    result = await OPERATION.run(ctx_for(pki, ui), OPERATION.parse(args))
    assert result["signed"] == 2, result
    (consent,) = ui.consents
    shown = "\n".join(consent.parameters)
    for expected in (
        "PAdES",
        "PES",
        "B-B",
        "« Notification du marché »",
        "« Orléans »",
        "« Bon pour accord — 1 000 000 € »",
        "no-changes",
        "« Comptable public »",
        "Tours",
        "urn:oid:1.2.250.1.131.1.5.18.21.1.7",
    ):
        assert expected in shown, (expected, shown)
    assert consent.names_from_page
    text = presenter.consent_text(consent)  # what the dialog and the terminal render
    assert text.parameters == list(consent.parameters) and text.names_note


async def test_sign_hash_names_are_marked_as_page_supplied(pki: DevPki) -> None:
    ui = HeadlessUI(approve=True)
    digest = hashlib.sha256(b"acte").digest()
    args = {"hash": base64.b64encode(digest).decode(), "documentName": "Acte.pdf"}
    await SIGN_HASH.run(ctx_for(pki, ui), SIGN_HASH.parse(args))
    (consent,) = ui.consents
    assert consent.operation is OperationKind.SIGN and consent.names_from_page
    assert any("sha256" in line for line in consent.parameters)


async def test_page_supplied_tsa_must_be_configured(pki: DevPki) -> None:
    ui = HeadlessUI(approve=True)
    args = {"level": "B-T", "tsaUrl": "http://127.0.0.1:8080/admin", "documents": [doc("a.txt", b"a", "cades")]}
    with pytest.raises(BadRequest, match="tsa_allowed_urls"):
        await OPERATION.run(ctx_for(pki, ui), OPERATION.parse(args))
    assert not ui.consents  # refused before anything is shown or sent
    allowed = Config(tsa_allowed_urls=("http://127.0.0.1:8080/admin/",))
    from sceau.operations.sign_documents import tsa_allowed

    assert tsa_allowed("http://127.0.0.1:8080/admin", allowed)
    assert not tsa_allowed("http://127.0.0.1:8081/admin", allowed)
    assert tsa_allowed("https://tsa.example/", Config(tsa_url="https://tsa.example"))
