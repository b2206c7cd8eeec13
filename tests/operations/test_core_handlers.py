"""The agent core through `Agent.handle`: hello, list-certificates, authenticate, sign-hash, errors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509

from sceau.app import Agent
from sceau.config import DEFAULT_LIMITS, Config, Limits
from sceau.devkit import pki as devpki
from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki
from sceau.operations.base import Operation
from sceau.operations.registry import Registry, default_registry
from sceau.protocol.codes import Command, OperationKind
from sceau.protocol.session import WEBSOCKET, Session
from sceau.store.sites import TrustedSites
from sceau.tokens.base import Digest, SignScheme
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.pkcs12 import Pkcs12Backend
from sceau.tokens.registry import TokenManager
from sceau.tokens.testing import verify_signature
from sceau.ui.headless import HeadlessUI
from sceau_rp import AuthTokenValidator, NonceStore

ORIGIN = "https://marches.exemple.fr"


def request(
    cmd: str, args: dict[str, Any] | None = None, origin: str | None = ORIGIN, rid: str = "r1"
) -> dict[str, Any]:
    msg: dict[str, Any] = {"v": 1, "id": rid, "cmd": cmd, "args": args or {}}
    if origin is not None:
        msg["origin"] = origin
    return msg


@pytest.fixture
def p11_managers(softhsm_module: str) -> Iterator[Callable[[], TokenManager]]:
    """SoftHSM2 token managers, closed after the test: PKCS#11 login state belongs to the process,
    so a manager left logged in would spare later tests (and their PIN dialogs) the login."""
    made: list[TokenManager] = []

    def make() -> TokenManager:
        made.append(TokenManager([Pkcs11Backend([softhsm_module])], token_label=softhsm.TOKEN_LABEL))
        return made[-1]

    yield make
    for m in made:
        m.close()


@pytest.fixture(params=["pkcs11", "pkcs12"])
def manager(request: pytest.FixtureRequest, p11_managers: Callable[[], TokenManager], pki: DevPki) -> TokenManager:
    if request.param == "pkcs11":
        return p11_managers()
    files = [Path(pki[n].p12) for n in ("auth-rsa2048", "auth-ec256", "sign-rsa2048", "sign-ec256")]
    return TokenManager([Pkcs12Backend(files, {f: devpki.P12_PASSWORD for f in files})])


def make_agent(manager: TokenManager, ui: HeadlessUI | None = None, **kw: Any) -> Agent:
    return Agent(Config(), manager, ui or HeadlessUI(pin=softhsm.USER_PIN, approve=True), **kw)


async def test_hello(manager: TokenManager) -> None:
    resp = await make_agent(manager).handle(request("hello"))
    assert resp["ok"] and resp["result"]["protocol"] == 1
    assert "authenticate" in resp["result"]["commands"]


async def test_list_by_role(manager: TokenManager) -> None:
    agent = make_agent(manager)
    resp = await agent.handle(request("list-certificates", {"role": "sign"}))
    assert resp["ok"], resp
    certs = resp["result"]["certificates"]
    assert certs and all(c["roles"] == ["sign"] for c in certs)
    der = base64.b64decode(certs[0]["certificate"])
    assert x509.load_der_x509_certificate(der)


async def test_authenticate_then_validate(manager: TokenManager, pki: DevPki) -> None:
    agent = make_agent(manager)
    nonces = NonceStore()
    for label in ("auth-rsa2048", "auth-ec256"):
        nonce = nonces.issue()
        handle = next(
            c["id"]
            for c in (await agent.handle(request("list-certificates", {"role": "auth"})))["result"]["certificates"]
            if c["fingerprintSha256"] == _fp(pki, label)
        )
        resp = await agent.handle(request("authenticate", {"nonce": nonce, "certificate": handle}))
        assert resp["ok"], resp
        anchors = [x509.load_pem_x509_certificate(pki.root_ca.read_bytes())]
        inter = [x509.load_pem_x509_certificate(pki.intermediate_ca.read_bytes())]
        user = AuthTokenValidator(ORIGIN, anchors, intermediates=inter, nonces=nonces).validate(resp["result"], nonce)
        assert user.certificate == pki.cert(label)


def _fp(pki: DevPki, label: str) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha256(pki.cert(label).public_bytes(Encoding.DER)).hexdigest()


@pytest.mark.parametrize("alg", ["sha256", "sha384"])
async def test_sign_hash(manager: TokenManager, pki: DevPki, alg: str) -> None:
    agent = make_agent(manager)
    certs = (await agent.handle(request("list-certificates", {"role": "sign"})))["result"]["certificates"]
    for cert in certs:
        data = b"Acte d'engagement"
        digest = hashlib.new(alg, data).digest()
        resp = await agent.handle(
            request(
                "sign-hash",
                {
                    "hash": base64.b64encode(digest).decode(),
                    "hashAlgorithm": alg,
                    "certificate": cert["id"],
                    "documentName": "AE.pdf",
                },
            )
        )
        assert resp["ok"], resp
        entry = next(e for e in manager.entries() if e.handle == cert["id"])
        verify_signature(
            entry,
            data,
            base64.b64decode(resp["result"]["signature"]),
            SignScheme(resp["result"]["scheme"]),
            Digest(alg),
        )


async def test_consent_shows_document_and_certificate(manager: TokenManager) -> None:
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True)
    agent = make_agent(manager, ui)
    cert = (await agent.handle(request("list-certificates", {"role": "sign"})))["result"]["certificates"][0]
    digest = hashlib.sha256(b"x").digest()
    await agent.handle(
        request(
            "sign-hash",
            {
                "hash": base64.b64encode(digest).decode(),
                "certificate": cert["id"],
                "documentName": "BPU.rtf",
                "documentSize": 1,
            },
        )
    )
    consent = ui.consents[-1]
    assert consent.origin == ORIGIN and consent.operation is OperationKind.SIGN
    assert consent.documents[0].name == "BPU.rtf" and consent.documents[0].sha256_hex == digest.hex()
    assert consent.certificate is not None and consent.certificate.handle == cert["id"]


async def test_refused_consent(manager: TokenManager) -> None:
    agent = make_agent(manager, HeadlessUI(pin=softhsm.USER_PIN, approve=False))
    resp = await agent.handle(request("authenticate", {"nonce": base64.b64encode(b"n" * 32).decode()}))
    assert resp["error"]["code"] == "USER_CANCELLED"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"not json", "BAD_REQUEST"),
        (b"[]", "BAD_REQUEST"),
        ({"v": 2, "id": "x", "cmd": "hello", "origin": ORIGIN}, "UNSUPPORTED"),
        ({"v": 1, "id": "x", "cmd": "format-disk", "origin": ORIGIN}, "UNSUPPORTED"),
        ({"v": 1, "id": "x", "cmd": "authenticate", "args": {"nonce": "c2hvcnQ="}, "origin": ORIGIN}, "BAD_REQUEST"),
        ({"v": 1, "id": "x", "cmd": "authenticate", "args": {"nonce": 42}, "origin": ORIGIN}, "BAD_REQUEST"),
        ({"v": 1, "id": "x", "cmd": "authenticate", "args": {"nonce": "A" * 5000}, "origin": ORIGIN}, "BAD_REQUEST"),
        ({"v": 1, "id": "x", "cmd": "sign-hash", "args": {"hash": "AAAA"}, "origin": ORIGIN}, "BAD_REQUEST"),
        ({"v": 1, "id": "x", "cmd": "list-certificates", "args": {"role": "root"}, "origin": ORIGIN}, "BAD_REQUEST"),
        ({"v": 1, "id": "x", "cmd": "hello", "origin": "http://marches.fr"}, "ORIGIN_NOT_ALLOWED"),
        ({"v": 1, "id": "x", "cmd": "hello"}, "BAD_REQUEST"),
    ],
)
async def test_bad_requests(manager: TokenManager, message: Any, code: str) -> None:
    resp = await make_agent(manager).handle(message)
    assert resp["ok"] is False and resp["error"]["code"] == code, resp
    if isinstance(message, dict):
        assert resp["id"] == "x"


async def test_site_gating_and_extension_only_commands(manager: TokenManager, tmp_path: Path) -> None:
    sites = TrustedSites(tmp_path)
    agent = make_agent(manager, sites=sites)
    nonce = base64.b64encode(b"n" * 32).decode()
    denied = await agent.handle(request("authenticate", {"nonce": nonce}))
    assert denied["error"]["code"] == "ORIGIN_NOT_ALLOWED"
    granted = await agent.handle(
        request("site-grant", {"origin": ORIGIN, "operations": ["authenticate", "list"]}, origin=None)
    )
    assert granted["ok"], granted
    assert (await agent.handle(request("authenticate", {"nonce": nonce})))["ok"]
    # Signing was not granted.
    digest = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    assert (await agent.handle(request("sign-hash", {"hash": digest})))["error"]["code"] == "ORIGIN_NOT_ALLOWED"
    # A page on the WebSocket transport cannot manage grants.
    ws = await agent.handle(
        request("site-grant", {"origin": "https://evil.fr", "operations": ["sign"]}),
        session=Session(WEBSOCKET, origin="https://evil.fr"),
    )
    assert ws["error"]["code"] == "ORIGIN_NOT_ALLOWED"
    revoked = await agent.handle(request("site-revoke", {"origin": ORIGIN}, origin=None))
    assert revoked["ok"]
    assert (await agent.handle(request("authenticate", {"nonce": nonce})))["error"]["code"] == "ORIGIN_NOT_ALLOWED"


async def test_websocket_origin_comes_from_transport(manager: TokenManager) -> None:
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True)
    agent = make_agent(manager, ui)
    nonce = base64.b64encode(b"n" * 32).decode()
    resp = await agent.handle(
        request("authenticate", {"nonce": nonce}, origin="https://forged.fr"),
        session=Session(WEBSOCKET, origin="https://real.fr"),
    )
    assert resp["ok"]
    assert ui.consents[-1].origin == "https://real.fr"


class _Boom(Operation):
    command: ClassVar[Command] = Command.HELLO
    uses_key: ClassVar[bool] = False

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> None:
        return None

    async def run(self, ctx: Any, params: None) -> dict[str, Any]:
        raise RuntimeError("secret internal detail /home/user")


class _Slow(_Boom):
    async def run(self, ctx: Any, params: None) -> dict[str, Any]:
        await asyncio.sleep(5)
        return {}


async def test_internal_error_does_not_leak(manager: TokenManager) -> None:
    reg = Registry()
    reg.register(_Boom())
    resp = await Agent(Config(), manager, HeadlessUI(), registry=reg).handle(request("hello"))
    assert resp["error"]["code"] == "INTERNAL" and "secret" not in resp["error"]["message"]


async def test_timeout(manager: TokenManager) -> None:
    reg = Registry()
    reg.register(_Slow())
    resp = await Agent(Config(operation_timeout_s=0.1), manager, HeadlessUI(), registry=reg).handle(request("hello"))
    assert resp["error"]["code"] == "TIMEOUT"


def test_registry_has_one_handler_per_command() -> None:
    reg = default_registry()
    assert {"hello", "list-certificates", "authenticate", "sign-hash"} <= set(reg.commands())


async def test_journal_records_documents_and_certificate(
    p11_managers: Callable[[], TokenManager], tmp_path: Path
) -> None:
    """Every key use leaves one journal line naming origin, documents, SHA-256, certificate, result."""
    import json as _json

    from sceau.store.journal import Journal

    manager = p11_managers()
    journal = Journal(tmp_path)
    agent = Agent(Config(), manager, HeadlessUI(pin=softhsm.USER_PIN, approve=True), journal=journal)
    cert = (await agent.handle(request("list-certificates", {"role": "sign"})))["result"]["certificates"][0]
    digest = hashlib.sha256(b"bordereau").digest()
    args = {"hash": base64.b64encode(digest).decode(), "certificate": cert["id"], "documentName": "PES.xml"}
    assert (await agent.handle(request("sign-hash", args)))["ok"]
    refused = Agent(Config(), manager, HeadlessUI(pin=softhsm.USER_PIN, approve=False), journal=journal)
    assert not (await refused.handle(request("sign-hash", args)))["ok"]
    lines = [_json.loads(line) for line in journal.path.read_text().splitlines()]
    signs = [entry for entry in lines if entry["operation"] == "sign"]
    assert [entry["result"] for entry in signs] == ["ok", "USER_CANCELLED"]
    text = journal.path.read_text()
    assert "PES.xml" in text and digest.hex() in text and cert["fingerprintSha256"] in text
    assert softhsm.USER_PIN not in text


async def test_remembered_authentication_persists_until_the_site_is_revoked(
    p11_managers: Callable[[], TokenManager], tmp_path: Path
) -> None:
    from sceau.store.remembered import RememberedAuth
    from sceau.ui.api import ConsentDecision, ConsentRequest

    class RememberingUI(HeadlessUI):
        def confirm(self, request: ConsentRequest) -> ConsentDecision:
            self.consents.append(request)
            return ConsentDecision(approved=True, remember=request.can_remember)

    def agent_with(ui: HeadlessUI) -> Agent:
        manager = p11_managers()
        return Agent(
            Config(remember_authentication=True),  # off by default (tests/security/test_remembered_auth.py)
            manager,
            ui,
            sites=TrustedSites(tmp_path),
            remembered=RememberedAuth(tmp_path / "remembered.json"),
        )

    TrustedSites(tmp_path).grant(ORIGIN, ["authenticate", "list"])
    nonce = base64.b64encode(b"n" * 32).decode()
    first = RememberingUI(pin=softhsm.USER_PIN)
    agent = agent_with(first)
    handle = (await agent.handle(request("list-certificates", {"role": "auth"})))["result"]["certificates"][0]["id"]
    assert (await agent.handle(request("authenticate", {"nonce": nonce, "certificate": handle})))["ok"]
    assert len(first.consents) == 1
    # A new agent (restart): remembered, no dialog.
    second = RememberingUI(pin=softhsm.USER_PIN)
    agent2 = agent_with(second)
    assert (await agent2.handle(request("authenticate", {"nonce": nonce, "certificate": handle})))["ok"]
    assert second.consents == []
    # Revoked and granted again: asked again.
    assert (await agent2.handle(request("site-revoke", {"origin": ORIGIN}, origin=None)))["ok"]
    TrustedSites(tmp_path).grant(ORIGIN, ["authenticate"])
    assert (await agent2.handle(request("authenticate", {"nonce": nonce, "certificate": handle})))["ok"]
    assert len(second.consents) == 1
