"""Hot-plug and swap through the real PC/SC stack: pcscd + vpcd + vicc (virtual card) and the card's
module loaded at run time for its ATR (pinlimit copy in front of a second SoftHSM2 token directory,
present only while PC/SC reports the card in the reader).

insert → certificates appear without restart → sign (openssl checks) → remove mid-batch → TOKEN_REMOVED,
nothing else written → module released → insert again → sign again after a fresh PIN prompt; the
"subscribed pages" (the agent's broadcast) hear each change, and token A keeps working throughout.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sceau.config import Config
from sceau.devkit import softhsm, verifiers
from sceau.operations.context import OperationContext
from sceau.operations.sign_documents import OPERATION
from sceau.protocol.codes import Role
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.pcsc_monitor import CardEvent, CardEventKind, PcscMonitor, agent_handler, rules_from_config
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.registry import TokenManager
from sceau.ui.headless import HeadlessUI
from tests.tokens import runtime_stack, virtual_card
from tests.tokens.runtime_stack import CARD_LABEL, CARD_PIN, VICC_ATR

ORIGIN = "https://marches.example.fr"


@pytest.fixture
def pcscd(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "pcscd").mkdir()
    proc, port = virtual_card.start_pcscd(tmp_path / "pcscd")
    try:
        yield port
    finally:
        virtual_card.stop(proc)


class Stack:
    """Token A (direct SoftHSM2) + the card's module mapped from the vicc ATR, wired like the agent."""

    def __init__(
        self,
        manager: TokenManager,
        card_module: str,
        loop: asyncio.AbstractEventLoop,
        rules: list[str] | None = None,
    ) -> None:
        self.manager = manager
        self.card_module = card_module
        self.notes: list[dict[str, str]] = []
        self.events: list[CardEvent] = []
        self.changed = threading.Condition()

        async def broadcast(note: dict[str, str]) -> None:
            self.notes.append(note)

        handler = agent_handler(manager.invalidate, broadcast, loop, manager.card_event)

        def on_event(event: CardEvent) -> None:
            self.manager.refreshed.clear()
            handler(event)
            with self.changed:
                self.events.append(event)
                self.changed.notify_all()

        self.monitor = PcscMonitor(on_event, rules=rules_from_config(rules or [f"{VICC_ATR}={card_module}"]))

    async def wait_event(self, kind: CardEventKind, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while sum(e.kind is kind for e in self.events) < count:
            assert time.monotonic() < deadline, f"no {kind} event: {self.events}"
            await asyncio.sleep(0.02)

    async def wait_refresh(self, timeout: float = 20) -> None:
        ok = await asyncio.get_running_loop().run_in_executor(None, self.manager.refreshed.wait, timeout)
        assert ok, "no token refresh after the card event"

    def labels(self) -> set[str]:
        return {e.token.label for e in self.manager.entries(Role.SIGN)}


def _doc(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "data": base64.b64encode(data).decode(), "format": "cades"}


@pytest.mark.slow
async def test_insert_sign_remove_mid_batch_reinsert_sign_again(
    pcscd: int,
    tmp_path: Path,
    softhsm_module: str,
    pinlimit_module: Path,
) -> None:
    card = runtime_stack.make_card_token(tmp_path / "carte-b", softhsm_module)
    card_module = runtime_stack.module_instance(
        tmp_path / "modules", "carte", pinlimit_module, softhsm_module, card.conf, PINLIMIT_READER="Virtual PCD"
    )
    backend = Pkcs11Backend([softhsm_module])
    manager = TokenManager([backend])
    stack = Stack(manager, card_module, asyncio.get_running_loop())
    ui = HeadlessUI(pin=CARD_PIN, approve=True)
    ctx = OperationContext(ORIGIN, ui, manager, Config(), TokenExecutor())
    vicc = None
    stack.monitor.start()
    try:
        # No card yet, card module not loaded (other tests may have added tokens to the shared SoftHSM2 store).
        base = stack.labels()
        assert softhsm.TOKEN_LABEL in base and CARD_LABEL not in base
        assert card_module not in backend.modules
        wait = time.monotonic() + 5
        while stack.monitor.calls < 2 and time.monotonic() < wait:
            await asyncio.sleep(0.05)

        # Insert: the ATR maps to the card's module, loaded off the event loop; certificates appear.
        vicc = virtual_card.start_vicc(pcscd)
        await stack.wait_event(CardEventKind.CARD_INSERTED, 1)
        await stack.wait_refresh()
        assert card_module in backend.modules and card_module in backend.runtime
        assert stack.labels() == base | {CARD_LABEL}

        async def sign_batch(n: int, on_signed: Any = None) -> dict[str, Any]:
            docs = [_doc(f"piece-{i}.txt", f"pièce {i}\n".encode()) for i in range(n)]
            [entry] = [e for e in manager.entries(Role.SIGN) if e.token.label == CARD_LABEL]

            async def emit(event: dict[str, Any]) -> None:
                if on_signed is not None and event.get("type") == "document-signed":
                    await on_signed(event)

            ctx.emit = emit
            args = {"format": "cades", "documents": docs, "certificate": entry.handle}
            return await OPERATION.run(ctx, OPERATION.parse(args))

        def check_signed(item: dict[str, Any], index: int) -> None:
            out = tmp_path / f"out-{index}.p7s"
            out.write_bytes(base64.b64decode(item["output"]["data"]))
            src = tmp_path / f"src-{index}.txt"
            src.write_bytes(f"pièce {index}\n".encode())
            ca = tmp_path / "card-ca.pem"
            from cryptography import x509
            from cryptography.hazmat.primitives.serialization import Encoding

            ca.write_bytes(x509.load_der_x509_certificate(card.cert_der).public_bytes(Encoding.PEM))
            res = verifiers.openssl_cms_verify(out, content=src, trusted=ca)
            assert res.ok, res.stderr

        first = await sign_batch(1)
        assert first["signed"] == 1, first
        check_signed(first["results"][0], 0)
        prompts_before = len(ui.pin_requests)
        assert prompts_before == 1

        # Remove the card after the first document of a batch of three.
        async def pull_card(event: dict[str, Any]) -> None:
            nonlocal vicc
            if event["index"] == 0 and vicc is not None:
                virtual_card.stop(vicc)
                vicc = None
                await stack.wait_event(CardEventKind.CARD_REMOVED, 1)

        batch = await sign_batch(3, pull_card)
        assert [r["ok"] for r in batch["results"]] == [True, False, False], batch
        assert {r["error"]["code"] for r in batch["results"][1:]} == {"TOKEN_REMOVED"}
        assert all("output" not in r for r in batch["results"][1:])  # nothing half-written
        check_signed(batch["results"][0], 0)
        await stack.wait_refresh()
        assert stack.labels() == base
        assert card_module not in backend.modules  # last token gone: module released

        # Insert again: module loaded again, a fresh PIN prompt, signing works.
        vicc = virtual_card.start_vicc(pcscd)
        await stack.wait_event(CardEventKind.CARD_INSERTED, 2)
        await stack.wait_refresh()
        assert stack.labels() == base | {CARD_LABEL}
        again = await sign_batch(1)
        assert again["signed"] == 1, again
        check_signed(again["results"][0], 0)
        assert len(ui.pin_requests) == prompts_before + 1
        assert [r.token.label for r in ui.pin_requests] == [CARD_LABEL, CARD_LABEL]

        # Token A served all along.
        assert softhsm.TOKEN_LABEL in stack.labels()
        await asyncio.sleep(0.1)
        assert [n["type"] for n in stack.notes] == ["token-inserted", "token-removed", "token-inserted"]
    finally:
        stack.monitor.stop()
        if vicc is not None:
            virtual_card.stop(vicc)
        manager.close()


CARD_C_LABEL = "Carte C"
CARD_C_PIN = "8642"


class PinsUI(HeadlessUI):
    """Headless approvals, each card's own PIN, and the record of every PIN dialog."""

    def __init__(self, pins: dict[str, str]) -> None:
        super().__init__(approve=True)
        self.pins = pins

    def ask_pin(self, request: Any) -> str:
        self.pin_requests.append(request)
        return self.pins[request.token.label]


@pytest.mark.slow
@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "isolated"])
async def test_swap_to_a_card_of_another_model_served_by_another_module(
    pcscd: int, tmp_path: Path, softhsm_module: str, pinlimit_module: Path, isolate: bool
) -> None:
    """Card B (vicc's ATR → module B) out, card C (another ATR → module C, its own token directory) in:
    module B released, module C loaded for C's ATR, C signs after its own PIN prompt; with
    `isolate_modules`, each module in its own host process, started and stopped with its card."""
    from sceau.tokens.module_host import HOSTS, available

    if isolate and not available():
        pytest.skip("p11-kit server / p11-kit-client.so missing")
    cards = {
        CARD_LABEL: runtime_stack.make_card_token(tmp_path / "carte-b", softhsm_module),
        CARD_C_LABEL: runtime_stack.make_card_token(
            tmp_path / "carte-c", softhsm_module, pin=CARD_C_PIN, label=CARD_C_LABEL
        ),
    }
    module_b, module_c = (
        runtime_stack.module_instance(
            tmp_path / "modules",
            name,
            pinlimit_module,
            softhsm_module,
            cards[label].conf,
            PINLIMIT_READER="Virtual PCD",
        )
        for name, label in (("modele-b", CARD_LABEL), ("modele-c", CARD_C_LABEL))
    )
    backend = Pkcs11Backend([], isolate=isolate)  # no module until a card's ATR brings one
    manager = TokenManager([backend])
    rules = [f"{VICC_ATR}={module_b}", f"{virtual_card.OTHER_ATR}={module_c}"]
    stack = Stack(manager, module_b, asyncio.get_running_loop(), rules)
    ui = PinsUI({CARD_LABEL: CARD_PIN, CARD_C_LABEL: CARD_C_PIN})
    ctx = OperationContext(ORIGIN, ui, manager, Config(), TokenExecutor())

    async def sign_one(label: str, index: int) -> None:
        [entry] = manager.entries(Role.SIGN)
        assert entry.token.label == label
        args = {"format": "cades", "documents": [_doc(f"pli-{index}.txt", b"pli\n")], "certificate": entry.handle}
        result = await OPERATION.run(ctx, OPERATION.parse(args))
        assert result["signed"] == 1, result
        out, src, ca = tmp_path / f"pli-{index}.p7s", tmp_path / "pli.txt", tmp_path / f"ca-{index}.pem"
        out.write_bytes(base64.b64decode(result["results"][0]["output"]["data"]))
        src.write_bytes(b"pli\n")
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        ca.write_bytes(x509.load_der_x509_certificate(cards[label].cert_der).public_bytes(Encoding.PEM))
        verified = verifiers.openssl_cms_verify(out, content=src, trusted=ca)
        assert verified.ok, verified.stderr

    vicc = None
    stack.monitor.start()
    try:
        wait = time.monotonic() + 5
        while stack.monitor.calls < 2 and time.monotonic() < wait:
            await asyncio.sleep(0.05)
        vicc = virtual_card.start_vicc(pcscd)
        await stack.wait_event(CardEventKind.CARD_INSERTED, 1)
        await stack.wait_refresh()
        assert stack.labels() == {CARD_LABEL} and backend.modules == [module_b]
        await sign_one(CARD_LABEL, 0)
        if isolate:
            host_b = HOSTS.get(module_b)
            assert host_b is not None and host_b.running()

        virtual_card.stop(vicc)
        vicc = None
        await stack.wait_event(CardEventKind.CARD_REMOVED, 1)
        await stack.wait_refresh()
        assert stack.labels() == set() and backend.modules == []  # module B released with its card
        if isolate:
            assert HOSTS.get(module_b) is None and not host_b.running()

        vicc = virtual_card.start_vicc(pcscd, virtual_card.OTHER_ATR)
        await stack.wait_event(CardEventKind.CARD_INSERTED, 2)
        inserted = [e for e in stack.events if e.kind is CardEventKind.CARD_INSERTED][-1]
        assert inserted.atr.hex() == virtual_card.OTHER_ATR and inserted.modules[0] == module_c
        await stack.wait_refresh()
        assert stack.labels() == {CARD_C_LABEL} and backend.modules == [module_c]
        await sign_one(CARD_C_LABEL, 1)
        assert [r.token.label for r in ui.pin_requests] == [CARD_LABEL, CARD_C_LABEL]  # C's own PIN prompt
        if isolate:
            host_c = HOSTS.get(module_c)
            assert host_c is not None and host_c.running() and host_c.module == module_c
        await asyncio.sleep(0.1)
        assert [n["type"] for n in stack.notes] == ["token-inserted", "token-removed", "token-inserted"]
    finally:
        stack.monitor.stop()
        if vicc is not None:
            virtual_card.stop(vicc)
        manager.close()
        for module in (module_b, module_c):
            from sceau.tokens.pkcs11_lib import unload_module

            unload_module(module)


@pytest.mark.slow
async def test_hosted_module_loaded_before_the_card_shows_it_when_inserted(
    pcscd: int, tmp_path: Path, softhsm_module: str, pinlimit_module: Path
) -> None:
    """`isolate_modules` with a configured module (loaded at start, no card yet): p11-kit's server
    filters the slots it serves, so the card's token must still appear, and go, with the card."""
    from sceau.tokens.module_host import available

    if not available():
        pytest.skip("p11-kit server / p11-kit-client.so missing")
    card = runtime_stack.make_card_token(tmp_path / "carte-b", softhsm_module)
    module = runtime_stack.module_instance(
        tmp_path / "modules", "configure", pinlimit_module, softhsm_module, card.conf, PINLIMIT_READER="Virtual PCD"
    )
    backend = Pkcs11Backend([module], isolate=True)
    manager = TokenManager([backend])
    stack = Stack(manager, module, asyncio.get_running_loop(), [f"{VICC_ATR}={module}"])
    vicc = None
    stack.monitor.start()
    try:
        assert stack.labels() == set() and backend.modules == [module]
        vicc = virtual_card.start_vicc(pcscd)
        await stack.wait_event(CardEventKind.CARD_INSERTED, 1)
        await stack.wait_refresh()
        assert stack.labels() == {CARD_LABEL}
        virtual_card.stop(vicc)
        vicc = None
        await stack.wait_event(CardEventKind.CARD_REMOVED, 1)
        await stack.wait_refresh()
        assert stack.labels() == set() and backend.modules == [module]  # configured: kept loaded
        vicc = virtual_card.start_vicc(pcscd)
        await stack.wait_event(CardEventKind.CARD_INSERTED, 2)
        await stack.wait_refresh()
        assert stack.labels() == {CARD_LABEL}
    finally:
        stack.monitor.stop()
        if vicc is not None:
            virtual_card.stop(vicc)
        manager.close()
        from sceau.tokens.pkcs11_lib import unload_module

        unload_module(module)
