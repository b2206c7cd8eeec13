"""The bridge harness: an agent with its own config and runtime dir, the native-host manifest in a
browser profile, and Debian's Chromium with the unpacked extension. Used by the demo, the e2e tests
and the benchmarks, so all three start the stack the same way.

Everything lives under one directory (`root`): the agent's config (XDG_CONFIG_HOME), data and
runtime dirs, so a real agent of the session is left alone. The agent runs as `sceau agent` in its
own process; the native host restarts it with the same arguments (SCEAU_AGENT_ARGS) if it dies.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sceau.config import Config
from sceau.devkit import softhsm
from sceau.protocol.constants import AGENT_LAUNCH, ExitCode
from sceau.transports.ipc import read_agent_pid, socket_path
from sceau_native_host.manifests import write_manifest
from sceau_native_host.relay import AGENT_ARGS_ENV

REPO = Path(__file__).resolve().parents[3]  # a source checkout: the extension is REPO/extension
EXTENSION = REPO / "extension"
CHROMIUM = "/usr/bin/chromium"
PIN_ENV = "SCEAU_BRIDGE_PIN"
# Debian's Chromium would otherwise reach for Google's services at every start (closed network here).
CHROMIUM_QUIET = ("--disable-background-networking", "--disable-component-update", "--no-first-run")


class BridgeError(RuntimeError):
    """The agent or the browser could not be started."""


def host_launcher() -> str:
    """The native host of this installation (console script next to the interpreter, else on PATH)."""
    candidate = Path(sys.executable).parent / "sceau-native-host"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("sceau-native-host")
    if found is None:
        raise FileNotFoundError("sceau-native-host is not installed (pip install -e .)")
    return found


@dataclass
class Bridge:
    """Agent configuration and environment shared by the agent, the browser and the native host."""

    root: Path
    env: dict[str, str]
    config: Config
    headless: bool  # the agent answers without dialogs (--headless --yes, PIN from PIN_ENV)
    max_message_bytes: int | None = None  # [limits] max_message_bytes of the agent, when set

    @classmethod
    def prepare(
        cls,
        root: Path,
        *,
        module: str,
        softhsm_conf: Path,
        headless: bool = True,
        dev_mode: bool = False,
        language: str = "",
        max_message_bytes: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Bridge:
        """Write the agent's config under `root` and the environment every process of the bridge gets."""
        (root / "cfg" / "sceau").mkdir(parents=True, exist_ok=True)
        (root / "run").mkdir(mode=0o700, exist_ok=True)
        (root / "data").mkdir(exist_ok=True)
        lines = [
            f'pkcs11_modules = ["{module}"]',
            "disable_module_discovery = true",
            f"dev_mode = {'true' if dev_mode else 'false'}",  # http://localhost needs it, https does not
            *([f'language = "{language}"'] if language else []),
            f'data_dir = "{root / "data"}"',
            f'runtime_dir = "{root / "run"}"',
            *(["[limits]", f"max_message_bytes = {max_message_bytes}"] if max_message_bytes else []),
        ]
        (root / "cfg" / "sceau" / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        full_env = dict(os.environ if env is None else env)
        full_env.update(
            XDG_CONFIG_HOME=str(root / "cfg"),
            SOFTHSM2_CONF=str(softhsm_conf),
            **{AGENT_ARGS_ENV: " ".join(_agent_args(headless))},  # the native host restarts the agent with these
            **({PIN_ENV: softhsm.USER_PIN} if headless else {}),
        )
        config = Config(runtime_dir=str(root / "run"), data_dir=str(root / "data"), dev_mode=dev_mode)
        return cls(root, full_env, config, headless, max_message_bytes)

    def agent_pid(self) -> int | None:
        return read_agent_pid(self.config)

    def start_agent(self, timeout: float = 20.0) -> subprocess.Popen[bytes] | None:
        """Start the agent and wait for its socket (None when one already serves this directory)."""
        log_path = self.root / "agent.log"
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [sys.executable, *AGENT_LAUNCH, *_agent_args(self.headless)],
            env=self.env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not socket_path(self.config).exists():
            code = proc.poll()
            if code == ExitCode.ALREADY_RUNNING:
                return None
            if code is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise BridgeError(f"the agent did not start:\n{tail}")
            time.sleep(0.05)
        return proc

    def stop_agent(self, proc: subprocess.Popen[bytes] | None) -> None:
        """Stop the agent we started, and one the native host restarted for this directory."""
        pids = {p for p in (proc.pid if proc else None, self.agent_pid()) if p}
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        if proc is not None:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()

    def kill_agent(self) -> None:
        """SIGKILL the running agent (a crash, as pages see it) and wait until it is gone."""
        pid = self.agent_pid()
        if not pid:
            raise BridgeError("no agent running")
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
        raise BridgeError("the agent did not die")


def _agent_args(headless: bool) -> list[str]:
    return ["--headless", "--yes", "--pin-env", PIN_ENV] if headless else []


def install_manifest(profile: Path, browser: str = "chromium") -> Path:
    """The native-host manifest in a Chromium profile's own folder (found before the system's)."""
    return write_manifest(profile / "NativeMessagingHosts", browser, host_launcher())


def chromium_args(extensions: Sequence[Path] = (EXTENSION,), *, trusted_spki: str = "") -> list[str]:
    """Flags for Chromium with our unpacked extension(s), in French; `trusted_spki`: a local server's
    key accepted without a CA (the demo's https)."""
    paths = ",".join(str(p) for p in extensions)
    args = [f"--disable-extensions-except={paths}", f"--load-extension={paths}", *CHROMIUM_QUIET, "--lang=fr"]
    if trusted_spki:
        args.append(f"--ignore-certificate-errors-spki-list={trusted_spki}")
    return args


def launch_chromium(
    playwright: Any,
    profile: Path,
    env: Mapping[str, str],
    *,
    extensions: Sequence[Path] = (EXTENSION,),
    headless: bool = True,
    args: Sequence[str] | None = None,
    **options: Any,
) -> Any:
    """Debian's Chromium under Playwright (DESIGN.md §7): persistent context with the extension and the
    native-host manifest in `profile`. `env` is the browser's whole environment; `options` go to
    `launch_persistent_context` (locale, viewport, downloads…)."""
    if not Path(CHROMIUM).exists():
        raise BridgeError("Debian chromium is missing: `make test` installs it (apt-get install chromium)")
    install_manifest(profile)
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=headless,
        env=dict(env),
        args=[*(args if args is not None else chromium_args(extensions)), "--no-sandbox"],
        **{"locale": "fr-FR", **options},
    )
