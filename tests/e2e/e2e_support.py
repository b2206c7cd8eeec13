"""Helpers for the browser end-to-end tests (imported by conftest and the test modules)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from sceau.config import Config
from sceau.devkit import pki as devpki
from sceau.transports.ipc import read_agent_pid, socket_path
from sceau_native_host.manifests import write_manifest
from sceau_rp import AuthTokenValidator

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "extension"
CHROMIUM = "/usr/bin/chromium"
PIN_ENV = "SCEAU_E2E_PIN"
AGENT_ARGS = f"--headless --yes --pin-env {PIN_ENV}"


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
            [sys.executable, "-m", "sceau.cli.agent", "agent", *AGENT_ARGS.split()],
            env=self.env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
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


def make_bridge(
    root: Path, softhsm_module: str, softhsm_conf: Path, *, max_message_bytes: int, dev_mode: bool = False
) -> Bridge:
    """Config (XDG_CONFIG_HOME) + environment shared by the agent, the browser and the host."""
    (root / "cfg" / "sceau").mkdir(parents=True)
    (root / "run").mkdir(mode=0o700)
    (root / "data").mkdir()
    (root / "cfg" / "sceau" / "config.toml").write_text(
        f'pkcs11_modules = ["{softhsm_module}"]\n'
        "disable_module_discovery = true\n"
        f"dev_mode = {str(dev_mode).lower()}\n"
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


def launch_chromium(
    playwright: Any, profile: Path, env: dict[str, str], *, extensions: list[Path] | None = None
) -> Any:
    """Debian's Chromium with our unpacked extension (plus `extensions`), in French (chromium-l10n)."""
    paths = ",".join(str(p) for p in (extensions or [EXTENSION]))
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: `make test` installs it (apt-get install chromium)")
    write_manifest(profile / "NativeMessagingHosts", "chromium", host_launcher())
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        ignore_https_errors=True,
        env={**env, "LANG": "fr_FR.UTF-8", "LC_ALL": "fr_FR.UTF-8"},
        locale="fr-FR",
        args=[
            f"--disable-extensions-except={paths}",
            f"--load-extension={paths}",
            "--no-sandbox",
            "--lang=fr",
        ],
    )


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


def _pem(path: str | Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def validator(pki: Any, origin: str, rp: Any) -> AuthTokenValidator:
    return AuthTokenValidator(origin, [_pem(pki.root_ca)], intermediates=[_pem(pki.intermediate_ca)], nonces=rp.nonces)
