"""`sign-documents`: one consent, one PIN, streamed per-document results; outputs checked by
openssl / xmlsec1 / pdfsig; token-level and document-level failures reported per document."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sceau.config import Config, Limits
from sceau.devkit import pki as devpki
from sceau.devkit import softhsm, verifiers
from sceau.devkit.pki import DevPki
from sceau.devkit.services import DevServices, free_port
from sceau.errors import BadRequest, TokenRemoved, TooLarge
from sceau.operations.context import OperationContext
from sceau.operations.sign_documents import OPERATION
from sceau.protocol.session import Session
from sceau.tokens.base import CertificateEntry, Digest, PinPrompt, SignScheme, Token, TokenBackend
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.pkcs12 import Pkcs12Backend, Pkcs12Token
from sceau.tokens.registry import TokenManager
from sceau.ui.headless import HeadlessUI

ORIGIN = "https://marches.example.fr"


def _pdf(filler: int = 0) -> bytes:
    offsets, out = [], bytearray(b"%PDF-1.7\n")
    stream = b"% " + b"z" * filler + b"\n"
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    for n, body in enumerate(bodies, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


PES = (
    '<?xml version="1.0" encoding="ISO-8859-1"?>\n<PES_Aller><EnTetePES/><PES_DepenseAller>'
    '<Bordereau Id="B1"><Libelle V="Crèche été"/></Bordereau><Bordereau Id="B2"><Libelle V="Défi"/></Bordereau>'
    "</PES_DepenseAller></PES_Aller>\n"
).encode("iso-8859-1")


_PKI_CHAIN: list[Path] = []


_MANAGERS: list[TokenManager] = []


@pytest.fixture(autouse=True)
def _chain(pki: DevPki) -> Iterator[None]:
    _PKI_CHAIN[:] = [pki.chain]
    yield
    # Log out (SoftHSM2 keeps a login for the whole process while a session stays open).
    for manager in _MANAGERS:
        manager.close()
    _MANAGERS.clear()


@pytest.fixture(scope="module")
def services(pki: DevPki) -> Iterator[DevServices]:
    svc = DevServices()
    svc.attach(pki)
    svc.start()
    yield svc
    svc.stop()


def handle(pki: DevPki, name: str) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha256(pki.cert(name).public_bytes(Encoding.DER)).hexdigest()[:32]


def make_ctx(
    backends: list[TokenBackend],
    ui: HeadlessUI,
    *,
    config: Config | None = None,
    events: list[dict[str, Any]] | None = None,
) -> OperationContext:
    async def emit(event: dict[str, Any]) -> None:
        if events is not None:
            events.append(event)

    config = config or Config(trust_anchors=(str(_PKI_CHAIN[0]),) if _PKI_CHAIN else ())
    manager = TokenManager(backends)
    _MANAGERS.append(manager)
    return OperationContext(ORIGIN, ui, manager, config, TokenExecutor(), emit=emit)


def doc(name: str, data: bytes, fmt: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "data": base64.b64encode(data).decode(), "format": fmt, **extra}


def output(item: dict[str, Any]) -> bytes:
    return base64.b64decode(item["output"]["data"])


def check(pki: DevPki, item: dict[str, Any], source: bytes, tmp: Path) -> None:
    """The independent tool for each format accepts the output."""
    out, fmt = output(item), item["format"]
    (tmp / "src").write_bytes(source)
    (tmp / "out").write_bytes(out)
    if fmt == "cades":
        res = verifiers.openssl_cms_verify(tmp / "out", content=tmp / "src", trusted=pki.root_ca)
    elif fmt == "xades":
        res = verifiers.xmlsec_verify(
            tmp / "out", trusted=pki.root_ca, untrusted=pki.intermediate_ca, url_map={item["name"]: tmp / "src"}
        )
    elif fmt == "pes":
        res = verifiers.xmlsec_verify(
            tmp / "out", trusted=pki.root_ca, untrusted=pki.intermediate_ca, id_attrs=verifiers.PES_IDS[:2]
        )
    else:
        res = verifiers.pdfsig(tmp / "out")
        assert "Signature is Valid." in res.stdout, res.stdout
        return
    assert res.ok, res.stderr


async def test_mixed_batch_one_consent_one_pin(
    pki: DevPki, softhsm_module: str, services: DevServices, tmp_path: Path
) -> None:
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True)
    events: list[dict[str, Any]] = []
    config = Config(
        trust_anchors=(str(_PKI_CHAIN[0]),) if _PKI_CHAIN else (), tsa_allowed_urls=(services.tsa_url,)
    )  # a page-supplied TSA is used only when the configuration lists it
    ctx = make_ctx([Pkcs11Backend([softhsm_module])], ui, config=config, events=events)
    sources = {
        "Acte_engagement.pdf": _pdf(),
        "BPU.rtf": b"{\\rtf1 Bordereau des prix}",
        "Annexe.txt": b"annexe",
        "PES.xml": PES,
    }
    args = {
        "documents": [
            doc(
                "Acte_engagement.pdf",
                sources["Acte_engagement.pdf"],
                "pades",
                options={"pades": {"reason": "Signature de l'acte d'engagement", "visible": {"page": 1}}},
            ),
            doc("BPU.rtf", sources["BPU.rtf"], "cades", existingNames=["BPU.rtf - Signature 1.p7s"]),
            doc("Annexe.txt", sources["Annexe.txt"], "xades"),
            doc("PES.xml", sources["PES.xml"], "pes"),
        ],
        "level": "B-T",
        "tsaUrl": services.tsa_url,
        "certificate": handle(pki, "sign-rsa3072"),
        "options": {"pes": {"city": "Orléans"}},
    }
    result = await OPERATION.run(ctx, OPERATION.parse(args))
    assert result["signed"] == 4 and result["failed"] == 0
    # The batch consent, then (CKA_ALWAYS_AUTHENTICATE key) whether the PIN may be reused for it.
    assert len(ui.consents) == 2
    assert "each signature" in ui.consents[1].detail or "chaque signature" in ui.consents[1].detail
    consent = ui.consents[0]
    assert [d.name for d in consent.documents] == list(sources)
    assert [d.sha256_hex for d in consent.documents] == [hashlib.sha256(v).hexdigest() for v in sources.values()]
    # CKA_ALWAYS_AUTHENTICATE key: the token asks for the PIN per signature, the user types it once.
    assert len(ui.pin_requests) == 1
    assert [e["index"] for e in events] == [0, 1, 2, 3] and all(e["type"] == "document-signed" for e in events)
    names = [r["output"]["name"] for r in result["results"]]
    assert names == ["Acte_engagement.pdf", "BPU.rtf - Signature 2.p7s", "Annexe.txt - Signature 1.xml", "PES.xml"]
    for item in result["results"]:
        sub = tmp_path / item["format"]
        sub.mkdir()
        check(pki, item, sources[item["name"]], sub)


async def test_failure_in_one_document_is_reported_alone(pki: DevPki, tmp_path: Path) -> None:
    ui = HeadlessUI(pin=devpki.P12_PASSWORD, approve=True)
    ctx = make_ctx([Pkcs12Backend([Path(pki["sign-ec256"].p12)])], ui)
    args = {
        "format": "xades",
        "naming": "atexo",
        "documents": [
            doc("ok.txt", b"ok", "xades"),
            doc("broken.pdf", b"%PDF-1.7 broken", "pades"),
            doc("bad.xml", b"<!DOCTYPE x [<!ENTITY a 'b'>]><PES_Aller/>", "pes"),
            doc("ok2.txt", b"ok2", "cades"),
        ],
    }
    result = await OPERATION.run(ctx, OPERATION.parse(args))
    assert [r["ok"] for r in result["results"]] == [True, False, False, True]
    assert re.fullmatch(r"ok\.txt - \d{14} - Signature 1\.xml", result["results"][0]["output"]["name"])
    assert result["results"][1]["error"]["code"] == "INVALID_INPUT"
    assert result["results"][2]["error"]["code"] == "INVALID_INPUT"
    check(pki, result["results"][0], b"ok", tmp_path)


async def test_wrong_pin_stops_the_batch_without_outputs(pki: DevPki, softhsm_module: str) -> None:
    # CKA_ALWAYS_AUTHENTICATE key: the PIN is checked at every signature, so the wrong PIN is caught
    # even if another test left the token logged in (SoftHSM2 keeps the login per process).
    ui = HeadlessUI(pin="999999", approve=True)
    ctx = make_ctx([Pkcs11Backend([softhsm_module])], ui)
    args = {
        "format": "cades",
        "certificate": handle(pki, "sign-rsa3072"),
        "documents": [doc("a.txt", b"a", "cades"), doc("b.txt", b"b", "cades")],
    }
    result = await OPERATION.run(ctx, OPERATION.parse(args))
    assert result["signed"] == 0
    assert {r["error"]["code"] for r in result["results"]} == {"USER_CANCELLED"}
    assert all("output" not in r for r in result["results"])
    assert len(ui.pin_requests) == 2  # the PIN, then the retry the headless UI refuses: no third try


class _FlakyToken(Token):
    """A PKCS#12 token whose second signature finds the token gone (card pulled mid-batch)."""

    def __init__(self, inner: Pkcs12Token) -> None:
        self.inner, self.info, self.calls = inner, inner.info, 0

    def certificates(self) -> list[CertificateEntry]:
        return self.inner.certificates()

    def pin_status(self) -> Any:
        return self.inner.pin_status()

    def login(self, prompt: PinPrompt) -> None:
        self.inner.login(prompt)

    def is_logged_in(self) -> bool:
        return self.inner.is_logged_in()

    def sign_raw(
        self,
        entry: CertificateEntry,
        data: bytes,
        scheme: SignScheme,
        digest: Digest,
        *,
        prehashed: bool,
        prompt: PinPrompt,
    ) -> bytes:
        self.calls += 1
        if self.calls == 2:
            raise TokenRemoved("token removed")
        return self.inner.sign_raw(entry, data, scheme, digest, prehashed=prehashed, prompt=prompt)

    def decrypt_raw(self, *a: Any, **k: Any) -> bytes:
        raise NotImplementedError

    def derive_ecdh(self, *a: Any, **k: Any) -> bytes:
        raise NotImplementedError


class _Backend(TokenBackend):
    name = "flaky"

    def __init__(self, token: Token) -> None:
        self.token = token

    def viable(self) -> bool:
        return True

    def tokens(self) -> list[Token]:
        return [self.token]


async def test_token_removed_mid_batch(pki: DevPki) -> None:
    token = _FlakyToken(Pkcs12Token(Path(pki["sign-rsa2048"].p12), devpki.P12_PASSWORD))
    ctx = make_ctx([_Backend(token)], HeadlessUI(approve=True))
    args = {"format": "cades", "documents": [doc(f"{i}.txt", b"x", "cades") for i in range(3)]}
    result = await OPERATION.run(ctx, OPERATION.parse(args))
    assert [r["ok"] for r in result["results"]] == [True, False, False]
    assert {r["error"]["code"] for r in result["results"][1:]} == {"TOKEN_REMOVED"}
    assert token.calls == 2  # nothing tried after the removal


async def test_tsa_down_gives_no_b_b_result(pki: DevPki) -> None:
    ui = HeadlessUI(pin=devpki.P12_PASSWORD, approve=True)
    down = f"http://127.0.0.1:{free_port()}/tsa"
    ctx = make_ctx([Pkcs12Backend([Path(pki["sign-rsa2048"].p12)])], ui, config=Config(tsa_url=down))
    args = {
        "format": "xades",
        "level": "B-T",
        "tsaUrl": down,
        "documents": [doc("a.txt", b"a", "xades")],
    }
    result = await OPERATION.run(ctx, OPERATION.parse(args))
    assert not result["results"][0]["ok"] and "output" not in result["results"][0]
    assert result["results"][0]["error"]["code"] == "TIMEOUT"


async def test_document_over_limit_refused_before_consent(pki: DevPki) -> None:
    ui = HeadlessUI(pin=devpki.P12_PASSWORD, approve=True)
    config = replace(Config(), limits=replace(Limits(), max_document_bytes=1000), trust_anchors=(str(pki.chain),))
    ctx = make_ctx([Pkcs12Backend([Path(pki["sign-rsa2048"].p12)])], ui, config=config)
    with pytest.raises(TooLarge):
        await OPERATION.run(ctx, OPERATION.parse({"documents": [doc("big.bin", b"x" * 5000, "cades")]}))
    assert not ui.consents


async def test_uploaded_transfer_and_large_result(pki: DevPki, tmp_path: Path) -> None:
    ui = HeadlessUI(pin=devpki.P12_PASSWORD, approve=True)
    ctx = make_ctx([Pkcs12Backend([Path(pki["sign-ec256"].p12)])], ui)
    big = _pdf(2 << 20)
    store = ctx.transfers()
    up = store.upload_chunk(None, 0, big[: 1 << 20], False, "gros.pdf")
    up = store.upload_chunk(up["transfer"], 1, big[1 << 20 :], True)
    args = {"documents": [{"name": "gros.pdf", "transfer": up["transfer"], "format": "pades"}]}
    result = await OPERATION.run(ctx, OPERATION.parse(args))
    assert result["results"][0]["ok"], result["results"][0].get("error")
    out = result["results"][0]["output"]
    assert "transfer" in out and out["transfer"]["size"] > len(big)
    chunks, index = [], 0
    while True:
        data, final = store.fetch_chunk(out["transfer"]["transfer"], index)
        chunks.append(data)
        index += 1
        if final:
            break
    (tmp_path / "s.pdf").write_bytes(b"".join(chunks))
    assert "Signature is Valid." in verifiers.pdfsig(tmp_path / "s.pdf").stdout


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"documents": []},
        {"documents": [{"name": "a", "data": "eA=="}]},
        {"documents": [{"name": "a", "data": "eA==", "format": "zip"}]},
        {"format": "cades", "level": "B-X", "documents": [{"name": "a", "data": "eA=="}]},
        {"format": "cades", "documents": [{"name": "a"}]},
        {
            "format": "pades",
            "documents": [{"name": "a", "data": "eA==", "options": {"pades": {"visible": {"page": 0}}}}],
        },
        {"format": "cades", "documents": [{"name": "../", "data": "eA=="}]},
    ],
)
async def test_bad_requests(args: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        params = OPERATION.parse(args)
        from sceau.formats.optparse import pades_options

        for d in params.documents:
            pades_options(params.options, d.options)


async def test_through_the_agent_with_streamed_events(pki: DevPki) -> None:
    """Wire level: events carry each document as it completes; errors come back as codes, never tracebacks."""
    from sceau.app import Agent

    ui = HeadlessUI(pin=devpki.P12_PASSWORD, approve=True)
    agent = Agent(
        Config(trust_anchors=(str(pki.chain),)), TokenManager([Pkcs12Backend([Path(pki["sign-ec256"].p12)])]), ui
    )
    events: list[dict[str, Any]] = []

    async def emit(event: dict[str, Any]) -> None:
        events.append(event)

    request = {
        "v": 1,
        "id": "r1",
        "cmd": "sign-documents",
        "origin": ORIGIN,
        "args": {"format": "cades", "documents": [doc("a.txt", b"a", "cades"), doc("b.txt", b"b", "cades")]},
    }
    response = await agent.handle(request, emit=emit, session=Session())
    assert response["ok"] is True and response["result"]["signed"] == 2
    assert [e["event"]["name"] for e in events] == ["a.txt", "b.txt"] and all(e["id"] == "r1" for e in events)
    bad = await agent.handle({**request, "id": "r2", "args": {"format": "cades", "documents": "nope"}}, emit=emit)
    assert bad["ok"] is False and bad["error"]["code"] == "BAD_REQUEST"
    verify = await agent.handle(
        {
            "v": 1,
            "id": "r3",
            "cmd": "verify",
            "origin": ORIGIN,
            "args": {
                "document": {"data": response["result"]["results"][0]["output"]["data"]},
                "name": "a.txt - Signature 1.p7s",
                "detached": {"data": base64.b64encode(b"a").decode()},
                "detachedName": "a.txt",
                "language": "en",
            },
        }
    )
    assert verify["ok"] is True and verify["result"]["valid"] is True, verify
    agent.executor.shutdown()
