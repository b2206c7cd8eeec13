"""`sceau demo --serve`: the demo token, an agent in dev mode, the platform, and a browser on it.

Everything lives under the demo directory: the agent's config and runtime dir (so a real agent
of the session is left alone), a dedicated Chromium profile with the native-messaging manifest,
the deposited plis and the walkthrough's screenshots.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import time
from pathlib import Path

from examples.platform.server import PlatformServer
from examples.platform.tls import localhost_certificate
from examples.platform.tls_login import TlsLoginServer
from sceau.devkit import pki as devpki
from sceau.devkit import softhsm
from sceau.devkit.bridge import CHROMIUM, Bridge, chromium_args, install_manifest
from sceau.i18n import _


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
    tls_login = TlsLoginServer(pki, root / "tls-login")
    tls_login.start()  # a free 127.0.0.1 port: the browser's own TLS client-certificate login
    server = PlatformServer(pki, port, root / "plis", tls=tls, tls_login_origin=tls_login.origin)
    try:
        server.start()
    except OSError as exc:
        print(_("The demo platform cannot listen on port {port}: {err}").format(port=port, err=exc.strerror))
        server.stop()
        tls_login.stop()
        return 1
    agent: subprocess.Popen[bytes] | None = None
    browser: subprocess.Popen[bytes] | None = None
    module = softhsm.find_module()
    if module is None:
        print(_("SoftHSM2 is missing (apt-get install softhsm2)."))
        server.stop()
        tls_login.stop()
        return 1
    bridge = Bridge.prepare(
        root,
        module=module,
        softhsm_conf=pki.softhsm_conf,
        headless=headless_agent,
        dev_mode=not https,  # http://localhost needs it, https does not
        language="fr",  # a French platform: the agent's dialogs in French too
    )
    # The TLS-login server has its own localhost certificate: the demo browser accepts both keys.
    login_spki = tls_login.server_certificate.spki_sha256 if tls_login.server_certificate else ""
    browser_args = chromium_args(trusted_spki=",".join(k for k in (tls.spki_sha256 if tls else "", login_spki) if k))
    try:
        print(_("Demo platform: {url}").format(url=f"{server.origin}/"))
        print(
            _("TLS client-certificate login: {url} (after `sceau browsers enable-tls-login`)").format(
                url=f"{tls_login.origin}/"
            )
        )
        if headless_agent:
            reason = _("scripted walkthrough") if scripted else _("no display or no desktop interface")
            print(
                _(
                    "Sceau agent WITHOUT dialogs ({reason}): every operation is approved automatically with the "
                    "demo PIN {pin}. Never use this mode with a real card."
                ).format(reason=reason, pin=softhsm.USER_PIN)
            )
        else:
            print(_("Sceau agent with its confirmation dialogs: demo PIN {pin}.").format(pin=softhsm.USER_PIN))
        agent = bridge.start_agent()
        if agent is None:
            print(_("A Sceau agent already serves this demo directory: reusing it."))
        profile = root / "chromium-profile"
        install_manifest(profile)  # the walkthrough and a plain Chromium both read it
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
        tls_login.stop()
