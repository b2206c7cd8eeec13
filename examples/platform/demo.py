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
from examples.platform.tls import localhost_certificate
from sceau.config import Config
from sceau.devkit import pki as devpki
from sceau.i18n import _
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
        return (
            importlib.util.find_spec("sceau.ui.dialogs") is not None and importlib.util.find_spec("tkinter") is not None
        )
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
    def prepare(cls, root: Path, pki: devpki.DevPki, *, headless: bool, dev_mode: bool = True) -> DemoBridge:
        module = devpki.find_softhsm_module()
        if module is None:
            raise FileNotFoundError("SoftHSM2 is missing (apt-get install softhsm2)")
        (root / "cfg" / "sceau").mkdir(parents=True, exist_ok=True)
        (root / "run").mkdir(mode=0o700, exist_ok=True)
        (root / "data").mkdir(exist_ok=True)
        (root / "cfg" / "sceau" / "config.toml").write_text(
            f'pkcs11_modules = ["{module}"]\n'
            "disable_module_discovery = true\n"
            f"dev_mode = {'true' if dev_mode else 'false'}\n"  # http://localhost needs it, https does not
            'language = "fr"\n'  # a French platform: the agent's dialogs in French too
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
        config = Config(runtime_dir=str(root / "run"), data_dir=str(root / "data"), dev_mode=dev_mode)
        return cls(root, env, config, headless)

    def start_agent(self, timeout: float = 20.0) -> subprocess.Popen[bytes] | None:
        """Start the agent (None when one already serves this demo directory)."""
        log = open(self.root / "agent.log", "ab")  # noqa: SIM115 - handed to the child
        args = HEADLESS_AGENT_ARGS.split() if self.headless else []
        proc = subprocess.Popen(
            [sys.executable, "-m", "sceau.cli.agent", "agent", *args],
            env=self.env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
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


def chromium_args(extension: Path = EXTENSION, *, trusted_spki: str = "") -> list[str]:
    """Flags of the demo's browser; `trusted_spki`: the demo server's key, accepted without a CA."""
    args = [f"--disable-extensions-except={extension}", f"--load-extension={extension}", *CHROMIUM_QUIET, "--lang=fr"]
    if trusted_spki:
        args.append(f"--ignore-certificate-errors-spki-list={trusted_spki}")
    return args


def _stop(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def serve(
    pki: devpki.DevPki,
    port: int = 8080,
    *,
    walkthrough: bool = False,
    open_browser: bool = True,
    root: Path | None = None,
    https: bool = False,
) -> int:
    """Run the whole demo; returns a process exit code."""
    root = root or pki.root / "platform"
    root.mkdir(parents=True, exist_ok=True)
    display = has_display()
    scripted = walkthrough or (open_browser and not display)
    headless_agent = scripted or not dialogs_available()
    tls = localhost_certificate(pki, root / "tls") if https else None
    server = PlatformServer(pki, port, root / "plis", tls=tls)
    try:
        server.start()
    except OSError as exc:
        print(_("The demo platform cannot listen on port {port}: {err}").format(port=port, err=exc.strerror))
        server.stop()
        return 1
    agent: subprocess.Popen[bytes] | None = None
    browser: subprocess.Popen[bytes] | None = None
    bridge = DemoBridge.prepare(root, pki, headless=headless_agent, dev_mode=not https)
    browser_args = chromium_args(trusted_spki=tls.spki_sha256 if tls else "")
    try:
        print(_("Demo platform: {url}").format(url=f"{server.origin}/"))
        if headless_agent:
            reason = _("scripted walkthrough") if scripted else _("no display or no desktop interface")
            print(
                _(
                    "Sceau agent WITHOUT dialogs ({reason}): every operation is approved automatically with the "
                    "demo PIN {pin}. Never use this mode with a real card."
                ).format(reason=reason, pin=devpki.USER_PIN)
            )
        else:
            print(_("Sceau agent with its confirmation dialogs: demo PIN {pin}.").format(pin=devpki.USER_PIN))
        agent = bridge.start_agent()
        if agent is None:
            print(_("A Sceau agent already serves this demo directory: reusing it."))
        profile = root / "chromium-profile"
        install_manifest(profile)
        if scripted:
            from examples.platform.walkthrough import run_walkthrough

            return run_walkthrough(
                server.origin, profile, bridge.env, root / "screenshots", headless=not display, args=browser_args
            )
        if open_browser and Path(CHROMIUM).exists():
            # Chromium refuses to start as root with its sandbox (containers, CI).
            no_sandbox = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
            browser = subprocess.Popen(
                [CHROMIUM, f"--user-data-dir={profile}", *browser_args, *no_sandbox, f"{server.origin}/"],
                env={**bridge.env, "LANGUAGE": "fr"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        print(_("Ctrl-C stops the demo."))
        signal.signal(signal.SIGTERM, _stop)  # `kill` cleans up like Ctrl-C
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
        return 0
    finally:
        if browser is not None and browser.poll() is None:
            browser.terminate()
        bridge.stop_agent(agent)
        server.stop()
