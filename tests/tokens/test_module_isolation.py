"""A PKCS#11 module that segfaults, isolated in its own host process (`isolate_modules`, p11-kit's RPC).

Module "A" serves the suite's token A, module "crash" serves card B and segfaults in C_Sign (pinlimit's
PINLIMIT_CRASH_SIGN, a NULL write). Both run behind `p11-kit server` processes; this test process is the
agent: had the crash reached it, pytest itself would die. Signatures are checked with openssl.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sceau.config import Config
from sceau.devkit import softhsm, verifiers
from sceau.devkit.pki import DevPki
from sceau.errors import Timeout, TokenRemoved
from sceau.i18n import gettext
from sceau.operations.context import OperationContext
from sceau.protocol.codes import ErrorCode, Role
from sceau.protocol.session import Session
from sceau.tokens import module_host
from sceau.tokens.base import CertificateEntry, Digest, SignScheme
from sceau.tokens.executor import LANES, TokenExecutor
from sceau.tokens.module_host import HOSTS
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.registry import TokenManager
from tests.tokens import runtime_stack
from tests.tokens.runtime_stack import CARD_LABEL, CARD_PIN, CardToken
from tests.tokens.test_runtime_tokens import RecordingUI, _verify

pytestmark = pytest.mark.skipif(not module_host.available(), reason="p11-kit server / p11-kit-client.so missing")

ORIGIN = "https://marches.example.fr"
CRASH_MESSAGE = (
    "The token middleware {module} stopped (it crashed); its tokens are unavailable. Sceau restarts it at the "
    "next request: try again, and if it happens again, update or reinstall the middleware."
)


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory, softhsm_module: str) -> CardToken:
    return runtime_stack.make_card_token(tmp_path_factory.mktemp("carte-b-crash"), softhsm_module)


@pytest.fixture(scope="module")
def modules(
    tmp_path_factory: pytest.TempPathFactory,
    card: CardToken,
    pinlimit_module: Path,
    softhsm_module: str,
    softhsm_conf: Path,
) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("isolated-modules")

    def make(name: str, conf: Path, **settings: str) -> str:
        return runtime_stack.module_instance(folder, name, pinlimit_module, softhsm_module, conf, **settings)

    return {
        "A": make("iso-a", softhsm_conf),
        "crash": make("crash", card.conf, PINLIMIT_CRASH_SIGN="1"),
        "hang": make("iso-hang", card.conf, PINLIMIT_HANG_SIGN="1"),
        "pinpad": make("iso-pinpad", card.conf, PINLIMIT_PINPAD=CARD_PIN),
    }


@pytest.fixture
def hosted(modules: dict[str, str]) -> Iterator[Callable[[str], TokenManager]]:
    """A manager of modules A and `second`, each in its own host process; all hosts stopped after."""
    made: list[TokenManager] = []

    def make(second: str) -> TokenManager:
        made.append(TokenManager([Pkcs11Backend([modules["A"], modules[second]], isolate=True)]))
        return made[-1]

    yield make
    for manager in made:
        manager.close()
    from sceau.tokens.pkcs11_lib import unload_module

    for module in modules.values():
        unload_module(module)  # C_Finalize through the client, then the host process is stopped
    assert all(HOSTS.get(m) is None for m in modules.values())


@pytest.fixture
def manager(hosted: Callable[[str], TokenManager]) -> TokenManager:
    return hosted("crash")


def _sign(manager: TokenManager, entry: CertificateEntry, ui: RecordingUI, data: bytes) -> bytes:
    token = manager.token_of(entry)
    return token.sign_raw(entry, data, SignScheme.ECDSA, Digest.SHA256, prehashed=False, prompt=ui.ask_pin)


def test_the_crash_mode_really_kills_a_process_that_loads_the_module(modules: dict[str, str]) -> None:
    """Control: without isolation the same module takes its process down (SIGSEGV)."""
    code = (
        "import pkcs11, sys\n"
        "lib = pkcs11.lib(sys.argv[1])\n"
        "tok = next(s.get_token() for s in lib.get_slots(token_present=True) if s.get_token().label == sys.argv[2])\n"
        "with tok.open(user_pin=sys.argv[3]) as s:\n"
        "    key = next(iter(s.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY})))\n"
        "    key.sign(bytes(32), mechanism=pkcs11.Mechanism.ECDSA)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, modules["crash"], CARD_LABEL, CARD_PIN], capture_output=True)
    assert r.returncode == -11, (r.returncode, r.stderr[-500:])


async def test_a_crashing_module_is_isolated_reported_and_restarted(
    modules: dict[str, str], manager: TokenManager, tmp_path: Path
) -> None:
    ui = RecordingUI({softhsm.TOKEN_LABEL: softhsm.USER_PIN, CARD_LABEL: CARD_PIN})
    ctx = OperationContext("https://marches.example.fr", ui, manager, Config(), TokenExecutor())
    entries = await ctx.blocking(lambda: manager.entries(Role.SIGN))
    assert {e.token.module for e in entries} == {modules["A"], modules["crash"]}
    good = next(
        e
        for e in entries
        if e.label == "sign-ec256" and e.token.module == modules["A"] and e.token.label == softhsm.TOKEN_LABEL
    )
    doomed = next(e for e in entries if e.token.label == CARD_LABEL)
    host_a, host_crash = HOSTS.get(modules["A"]), HOSTS.get(modules["crash"])
    assert host_a is not None and host_crash is not None and host_a.running() and host_crash.running()

    # Through the isolated path, token A signs; openssl checks it.
    signature = await ctx.blocking(lambda: _sign(manager, good, ui, b"offre"), manager.token_of(good))
    _verify(good, b"offre", signature, tmp_path)

    # Card B's middleware segfaults in C_Sign: the request fails cleanly, the agent (this process) lives.
    started = time.monotonic()
    with pytest.raises(TokenRemoved) as caught:
        await ctx.blocking(lambda: _sign(manager, doomed, ui, b"pli"), manager.token_of(doomed))
    assert caught.value.code is ErrorCode.TOKEN_REMOVED
    assert caught.value.message == CRASH_MESSAGE.format(module=os.path.basename(modules["crash"]))
    assert time.monotonic() - started < 5
    assert host_crash.crashes == 1 and host_crash.stale()
    assert not host_a.stale()

    # The other module keeps serving, with its login (no new PIN prompt).
    prompts = len(ui.pin_requests)
    signature = await ctx.blocking(lambda: _sign(manager, good, ui, b"offre 2"), manager.token_of(good))
    _verify(good, b"offre 2", signature, tmp_path)
    assert len(ui.pin_requests) == prompts

    # The crashed module's old token object refuses calls until the host is connected again...
    manager.invalidate()
    entries = await ctx.blocking(lambda: manager.entries(Role.SIGN))
    # ...which the next listing does: a fresh host child, card B listed again, login state gone.
    assert not host_crash.stale()
    again = next(e for e in entries if e.token.label == CARD_LABEL)
    assert again.certificate == doomed.certificate
    token_b = manager.token_of(again)
    assert not token_b.is_logged_in()
    with pytest.raises(TokenRemoved):  # it crashes again in C_Sign (the mode is on), still cleanly
        await ctx.blocking(lambda: _sign(manager, again, ui, b"pli 2"), token_b)
    assert host_crash.crashes == 2
    signature = await ctx.blocking(lambda: _sign(manager, good, ui, b"offre 3"), manager.token_of(good))
    _verify(good, b"offre 3", signature, tmp_path)


async def test_a_dead_host_server_is_started_again_at_the_next_listing(
    modules: dict[str, str], manager: TokenManager
) -> None:
    labels = {t.info.label for t in manager.tokens()}
    assert {softhsm.TOKEN_LABEL, CARD_LABEL} <= labels, manager.errors
    host = HOSTS.get(modules["crash"])
    assert host is not None
    host.stop()  # the server itself gone (killed, OOM): not only a child
    manager.invalidate()
    labels = {t.info.label for t in manager.tokens()}
    assert {softhsm.TOKEN_LABEL, CARD_LABEL} <= labels and host.running()


def test_crash_message_is_french_by_default() -> None:
    french = gettext(CRASH_MESSAGE, "fr").format(module="crash.so")
    assert french.startswith("Le pilote du support crash.so s'est arrêté"), french
    stuck = (
        "The token middleware {module} does not answer: Sceau stopped it and starts it again at the next "
        "request. Try again; if it persists, remove and reinsert the card."
    )
    assert gettext(stuck, "fr").startswith("Le pilote du support {module} ne répond plus : Sceau l'a arrêté")


def test_isolate_modules_is_a_configuration_option(tmp_path: Path) -> None:
    from sceau import config as config_mod
    from sceau.app import build_token_manager

    path = tmp_path / "sceau.toml"
    path.write_text("isolate_modules = true\ndisable_module_discovery = true\n", encoding="utf-8")
    cfg = config_mod.load(path)
    assert cfg.isolate_modules is True and Config().isolate_modules is False
    [backend, _p12] = build_token_manager(cfg).backends
    assert isinstance(backend, Pkcs11Backend) and backend.isolate


async def test_through_the_agent_the_crash_is_an_error_code_and_the_agent_keeps_signing(
    modules: dict[str, str], manager: TokenManager, pki: DevPki, tmp_path: Path
) -> None:
    """Wire level: the request on the crashed module answers TOKEN_REMOVED with the crash message (the
    suite runs in English; the French one is checked above), no traceback; the next request, on the
    other module, signs a CAdES that openssl verifies."""
    from sceau.app import Agent

    ui = RecordingUI({softhsm.TOKEN_LABEL: softhsm.USER_PIN, CARD_LABEL: CARD_PIN})
    agent = Agent(Config(trust_anchors=(str(pki.chain),)), manager, ui)
    entries = manager.entries(Role.SIGN)
    doomed = next(e for e in entries if e.token.label == CARD_LABEL)
    good = next(
        e
        for e in entries
        if e.label == "sign-ec256" and e.token.module == modules["A"] and e.token.label == softhsm.TOKEN_LABEL
    )

    def request(rid: str, entry: CertificateEntry) -> dict[str, Any]:
        doc = {"name": "offre.txt", "data": base64.b64encode(b"offre\n").decode(), "format": "cades"}
        args = {"format": "cades", "documents": [doc], "certificate": entry.handle}
        return {"v": 1, "id": rid, "cmd": "sign-documents", "origin": ORIGIN, "args": args}

    async def emit(event: dict[str, Any]) -> None:
        pass

    crashed = await agent.handle(request("r1", doomed), emit=emit, session=Session())
    text = json.dumps(crashed, ensure_ascii=False)
    assert "TOKEN_REMOVED" in text and "Traceback" not in text, text
    [item] = crashed["result"]["results"]
    assert item["error"] == {"code": "TOKEN_REMOVED", "message": CRASH_MESSAGE.format(module="crash.so")}
    fine = await agent.handle(request("r2", good), emit=emit, session=Session())
    assert fine["ok"] is True and fine["result"]["signed"] == 1, fine
    out, src = tmp_path / "offre.p7s", tmp_path / "offre.txt"
    out.write_bytes(base64.b64decode(fine["result"]["results"][0]["output"]["data"]))
    src.write_bytes(b"offre\n")
    verified = verifiers.openssl_cms_verify(out, content=src, trusted=Path(pki.chain))
    assert verified.ok, verified.stderr


async def test_a_hosted_module_stuck_in_c_sign_is_stopped_and_serves_again(
    modules: dict[str, str],
    hosted: Callable[[str], TokenManager],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Hosted, a module stuck in a call is not put aside until the agent restarts: its process is
    ended at the time limit, and the next listing connects a fresh one."""
    monkeypatch.setattr(LANES, "timeout", 1.0)
    manager = hosted("hang")
    ui = RecordingUI({softhsm.TOKEN_LABEL: softhsm.USER_PIN, CARD_LABEL: CARD_PIN})
    ctx = OperationContext(ORIGIN, ui, manager, Config(), TokenExecutor())
    entries = await ctx.blocking(lambda: manager.entries(Role.SIGN))
    stuck = next(e for e in entries if e.token.label == CARD_LABEL)
    good = next(
        e
        for e in entries
        if e.label == "sign-ec256" and e.token.module == modules["A"] and e.token.label == softhsm.TOKEN_LABEL
    )
    with pytest.raises(Timeout) as caught:
        await ctx.blocking(lambda: _sign(manager, stuck, ui, b"lot"), manager.token_of(stuck))
    assert caught.value.code is ErrorCode.TIMEOUT
    assert "Sceau stopped it and starts it again at the next request" in caught.value.message
    assert modules["hang"] in caught.value.message
    deadline = time.monotonic() + 5
    while LANES.hung(modules["hang"]):  # the stuck call came back once its process was ended
        assert time.monotonic() < deadline, "the stuck module's process was not stopped"
        await asyncio.sleep(0.05)
    manager.invalidate()
    entries = await ctx.blocking(lambda: manager.entries(Role.SIGN))
    assert CARD_LABEL in {e.token.label for e in entries}  # served again, no restart of the agent
    signature = await ctx.blocking(lambda: _sign(manager, good, ui, b"lot"), manager.token_of(good))
    _verify(good, b"lot", signature, tmp_path)


async def test_a_hosted_pinpad_reader_logs_in_with_a_null_pin(
    modules: dict[str, str], hosted: Callable[[str], TokenManager], tmp_path: Path
) -> None:
    """CKF_PROTECTED_AUTHENTICATION_PATH and the NULL-PIN login cross p11-kit's RPC: notice, no dialog."""
    manager = hosted("pinpad")
    ui = RecordingUI({})  # knows no PIN: a dialog would fail the test
    ctx = OperationContext(ORIGIN, ui, manager, Config(), TokenExecutor())
    [entry] = [e for e in await ctx.blocking(lambda: manager.entries(Role.SIGN)) if e.token.label == CARD_LABEL]
    assert entry.token.protected_auth_path
    token = manager.token_of(entry)
    prompt = ctx.pin_prompt()
    signature = await ctx.blocking(
        lambda: token.sign_raw(entry, b"pli", SignScheme.ECDSA, Digest.SHA256, prehashed=False, prompt=prompt), token
    )
    _verify(entry, b"pli", signature, tmp_path)
    assert len(ui.notices) == 1 and ui.pin_requests == []


def test_host_processes_end_with_a_killed_agent(modules: dict[str, str], tmp_path: Path) -> None:
    """An agent killed outright (no atexit) leaves no module host behind."""
    code = (
        "import sys, time\n"
        "from sceau.tokens.pkcs11 import Pkcs11Backend\n"
        "from sceau.tokens.module_host import HOSTS\n"
        "backend = Pkcs11Backend([sys.argv[1]], isolate=True)\n"
        "assert backend.tokens()\n"
        "print(HOSTS.get(sys.argv[1])._proc.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    agent = subprocess.Popen([sys.executable, "-c", code, modules["A"]], stdout=subprocess.PIPE, text=True)
    try:
        assert agent.stdout is not None
        server = int(agent.stdout.readline())
        os.kill(server, 0)  # running
    finally:
        agent.kill()
        agent.wait()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{server}").exists() and "Z" not in _state(server):
        assert time.monotonic() < deadline, "the module host outlived the agent"
        time.sleep(0.05)
    # Its folder (socket, client copy) is removed by the next agent that hosts a module.
    [left] = [
        p for p in Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()).glob(f"sceau-hosts-{agent.pid}-*")
    ]
    module_host._remove_orphans(left.parent)
    assert not left.exists()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"
