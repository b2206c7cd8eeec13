"""`sceau demo --serve`: the demo token, an agent in dev mode, the platform, and a browser on it.

Everything lives under the demo directory: the agent's config and runtime dir (so a real agent
of the session is left alone), a dedicated Chromium profile with the native-messaging manifest,
the deposited plis and the walkthrough's screenshots.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from examples.platform.server import PlatformServer
from sceau import devpki
from sceau.config import Config
from sceau.transports.ipc import read_agent_pid, socket_path

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "extension"
CHROMIUM = "/usr/bin/chromium"
PIN_ENV = "SCEAU_DEMO_PIN"
HEADLESS_AGENT_ARGS = f"--headless --yes --pin-env {PIN_ENV}"
EXIT_ALREADY_RUNNING = 4
CHROMIUM_QUIET = ["--disable-background-networking", "--disable-component-update", "--no-first-run"]


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def dialogs_available() -> bool:
    """The desktop UI (Tk dialogs) can run: a display, Tk, and the `sceau.ui.dialogs` module."""
    if not has_display():
        return False
    try:
        return importlib.util.find_spec("sceau.ui.dialogs") is not None and importlib.util.find_spec("tkinter") is not None
    except (ImportError, ValueError):
        return False


def host_launcher() -> str:
    """The native host of this installation (console script next to the interpreter)."""
    candidate = Path(sys.executable).parent / "sceau-native-host"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("sceau-native-host")
    if found is None:
        raise FileNotFoundError("sceau-native-host is not installed (pip install -e .)")
    return found


@dataclass
class DemoBridge:
    """Agent configuration and environment shared by the agent, the browser and the native host."""

    root: Path
    env: dict[str, str]
    config: Config
    headless: bool

    @classmethod
    def prepare(cls, root: Path, pki: devpki.DevPki, *, headless: bool) -> DemoBridge:
        module = devpki.find_softhsm_module()
        if module is None:
            raise FileNotFoundError("SoftHSM2 is missing (apt-get install softhsm2)")
        (root / "cfg" / "sceau").mkdir(parents=True, exist_ok=True)
        (root / "run").mkdir(mode=0o700, exist_ok=True)
        (root / "data").mkdir(exist_ok=True)
        (root / "cfg" / "sceau" / "config.toml").write_text(
            f'pkcs11_modules = ["{module}"]\n'
            "disable_module_discovery = true\n"
            "dev_mode = true\n"
            f'data_dir = "{root / "data"}"\n'
            f'runtime_dir = "{root / "run"}"\n',
            encoding="utf-8",
        )
        agent_args = HEADLESS_AGENT_ARGS if headless else ""
        env = dict(os.environ)
        env.update(
            XDG_CONFIG_HOME=str(root / "cfg"),
            SOFTHSM2_CONF=str(pki.softhsm_conf),
            SCEAU_AGENT_ARGS=agent_args,  # the native host restarts the agent with these
            **({PIN_ENV: devpki.USER_PIN} if headless else {}),
        )
        config = Config(runtime_dir=str(root / "run"), data_dir=str(root / "data"), dev_mode=True)
        return cls(root, env, config, headless)

    def start_agent(self, timeout: float = 20.0) -> subprocess.Popen[bytes] | None:
        """Start the agent (None when one already serves this demo directory)."""
        log = open(self.root / "agent.log", "ab")  # noqa: SIM115 - handed to the child
        args = HEADLESS_AGENT_ARGS.split() if self.headless else []
        proc = subprocess.Popen(
            [sys.executable, "-m", "sceau.cli_agent", "agent", *args],
            env=self.env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not socket_path(self.config).exists():
            code = proc.poll()
            if code == EXIT_ALREADY_RUNNING:
                return None
            if code is not None or time.monotonic() > deadline:
                tail = (self.root / "agent.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"the agent did not start:\n{tail}")
            time.sleep(0.05)
        return proc

    def stop_agent(self, proc: subprocess.Popen[bytes] | None) -> None:
        """Stop the agent we started (and one the native host restarted for this demo dir)."""
        pids = {p for p in (proc.pid if proc else None, read_agent_pid(self.config)) if p}
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        if proc is not None:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


def install_manifest(profile: Path) -> Path:
    from sceau_native_host.manifests import write_manifest

    return write_manifest(profile / "NativeMessagingHosts", "chromium", host_launcher())


def chromium_args(extension: Path = EXTENSION) -> list[str]:
    return [f"--disable-extensions-except={extension}", f"--load-extension={extension}", *CHROMIUM_QUIET, "--lang=fr"]


def serve(
    pki: devpki.DevPki,
    port: int = 8080,
    *,
    walkthrough: bool = False,
    open_browser: bool = True,
    root: Path | None = None,
) -> int:
    """Run the whole demo; returns a process exit code."""
    root = root or pki.root / "platform"
    root.mkdir(parents=True, exist_ok=True)
    display = has_display()
    scripted = walkthrough or (open_browser and not display)
    headless_agent = scripted or not dialogs_available()
    server = PlatformServer(pki, port, root / "plis")
    server.start()
    print(f"Plateforme de démonstration : {server.origin}/")
    bridge = DemoBridge.prepare(root, pki, headless=headless_agent)
    if headless_agent:
        reason = "parcours scripté" if scripted else "pas d'affichage ou interface graphique absente"
        print(
            f"Agent Sceau en mode sans interface ({reason}) : chaque opération est approuvée automatiquement "
            f"avec le code PIN de démonstration {devpki.USER_PIN}. Ne jamais utiliser ce mode avec une vraie carte."
        )
    else:
        print("Agent Sceau avec ses fenêtres de confirmation : code PIN de démonstration " + devpki.USER_PIN)
    agent = bridge.start_agent()
    if agent is None:
        print("Un agent Sceau sert déjà ce répertoire de démonstration : il est réutilisé.")
    profile = root / "chromium-profile"
    install_manifest(profile)
    try:
        if scripted:
            from examples.platform.walkthrough import run_walkthrough

            return run_walkthrough(server.origin, profile, bridge.env, root / "screenshots", headless=not display)
        if open_browser and Path(CHROMIUM).exists():
            subprocess.Popen(
                [CHROMIUM, f"--user-data-dir={profile}", *chromium_args(), f"{server.origin}/"],
                env=bridge.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        print("Ctrl-C pour arrêter la démonstration.")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
        return 0
    finally:
        bridge.stop_agent(agent)
        server.stop()
