"""Real browser, real extension, real native host, real agent on the SoftHSM2 test token.

Chromium (Debian `/usr/bin/chromium`) is driven by Playwright as DESIGN.md §7 describes: persistent
context, `--load-extension`, headless, native-messaging manifest in PROFILE/NativeMessagingHosts.
The agent runs as `sceau agent --headless --yes --pin-env …` in its own process; the native host
restarts it with the same arguments (SCEAU_AGENT_ARGS) if a test kills it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sceau import devpki
from sceau.config import Config
from sceau.transports.ipc import read_agent_pid, socket_path
from sceau_native_host.manifests import DEV_EXTENSION_ID, write_manifest
from e2e_rp_server import RelyingParty

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "extension"
CHROMIUM = "/usr/bin/chromium"
PIN_ENV = "SCEAU_E2E_PIN"
AGENT_ARGS = f"--headless --yes --pin-env {PIN_ENV}"

pytestmark = pytest.mark.e2e


def host_launcher() -> str:
    """The installed native host (console script of this venv)."""
    candidate = Path(sys.executable).parent / "sceau-native-host"
    if not candidate.exists():
        pytest.fail("sceau-native-host is not installed in this environment (pip install -e .)")
    return str(candidate)


@dataclass
class Bridge:
    root: Path
    env: dict[str, str]
    config: Config
    max_message_bytes: int

    def agent_pid(self) -> int | None:
        return read_agent_pid(self.config)

    def start_agent(self) -> subprocess.Popen[bytes]:
        log = open(self.root / "agent.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "sceau.cli_agent", "agent", *AGENT_ARGS.split()],
            env=self.env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 20
        while not socket_path(self.config).exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"agent did not start: {(self.root / 'agent.log').read_text()[-2000:]}")
            time.sleep(0.05)
        return proc

    def kill_agent(self) -> None:
        pid = self.agent_pid()
        assert pid, "no agent running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
            time.sleep(0.02)
        raise AssertionError("agent did not die")


def make_bridge(root: Path, softhsm_module: str, softhsm_conf: Path, *, max_message_bytes: int) -> Bridge:
    """Config (XDG_CONFIG_HOME) + environment shared by the agent, the browser and the host."""
    (root / "cfg" / "sceau").mkdir(parents=True)
    (root / "run").mkdir(mode=0o700)
    (root / "data").mkdir()
    (root / "cfg" / "sceau" / "config.toml").write_text(
        f'pkcs11_modules = ["{softhsm_module}"]\n'
        "disable_module_discovery = true\n"
        f'data_dir = "{root / "data"}"\n'
        f'runtime_dir = "{root / "run"}"\n'
        "[limits]\n"
        f"max_message_bytes = {max_message_bytes}\n",
        encoding="utf-8",
    )
    env = dict(os.environ)
    env.update(
        XDG_CONFIG_HOME=str(root / "cfg"),
        SOFTHSM2_CONF=str(softhsm_conf),
        SCEAU_AGENT_ARGS=AGENT_ARGS,
        SCEAU_LANG="en",
        LANGUAGE="fr",
        **{PIN_ENV: devpki.USER_PIN},
    )
    config = Config(runtime_dir=str(root / "run"), data_dir=str(root / "data"))
    return Bridge(root, env, config, max_message_bytes)


@pytest.fixture(scope="session")
def e2e_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="sceau-e2e-"))
    yield root
    if not os.environ.get("SCEAU_KEEP_E2E"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def bridge(e2e_root: Path, softhsm_module: str, softhsm_conf: Path) -> Iterator[Bridge]:
    b = make_bridge(e2e_root / "bridge", softhsm_module, softhsm_conf, max_message_bytes=2 * 1024 * 1024)
    proc = b.start_agent()
    yield b
    pid = b.agent_pid()
    for p in {proc.pid, pid}:
        if p:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


@pytest.fixture(scope="session")
def rp(e2e_root: Path) -> Iterator[RelyingParty]:
    server = RelyingParty(e2e_root, ports=4)
    server.start()
    yield server
    server.stop()


def launch_chromium(playwright: Any, profile: Path, env: dict[str, str]) -> Any:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: `make test` installs it (apt-get install chromium)")
    write_manifest(profile / "NativeMessagingHosts", "chromium", host_launcher())
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        ignore_https_errors=True,
        env=env,
        args=[
            f"--disable-extensions-except={EXTENSION}",
            f"--load-extension={EXTENSION}",
            "--no-sandbox",
            "--lang=fr",
        ],
    )


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance: Any, bridge: Bridge, e2e_root: Path) -> Iterator[Any]:
    context = launch_chromium(playwright_instance, e2e_root / "profile", bridge.env)
    worker = context.service_workers[0] if context.service_workers else context.wait_for_event("serviceworker")
    assert f"chrome-extension://{DEV_EXTENSION_ID}/" in worker.url, worker.url
    yield context
    context.close()


def open_page(context: Any, url: str) -> Any:
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("window.sceauReady === true")
    return page


def call(page: Any, js: str) -> dict[str, Any]:
    """Evaluate `js` (an expression using Sceau) through window.run: {ok, result} or {ok, code}."""
    result: dict[str, Any] = page.evaluate(f"window.run(() => {js})")
    return result


def start(page: Any, js: str, slot: str = "pending") -> None:
    """Start a call without waiting (a permission popup will need a click first)."""
    page.evaluate(f"() => {{ window.__{slot} = window.run(() => {js}); }}")


def result(page: Any, slot: str = "pending") -> dict[str, Any]:
    value: dict[str, Any] = page.evaluate(f"window.__{slot}")
    return value


def answer_prompt(context: Any, trigger: Any, *, allow: bool, expect_text: str | None = None) -> str:
    """Run `trigger()` (which must cause a first-use prompt), click Autoriser/Refuser, return its text."""
    with context.expect_page(timeout=20_000) as info:
        trigger()
    popup = info.value
    popup.wait_for_load_state()
    popup.wait_for_function("document.getElementById('question').textContent.length > 0")
    text: str = popup.inner_text("body")
    if expect_text is not None:
        assert expect_text in text, text
    popup.get_by_role("button", name="Autoriser" if allow else "Refuser").click()
    return text
