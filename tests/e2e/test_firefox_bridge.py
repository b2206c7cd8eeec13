"""Firefox ESR end to end (DESIGN.md §7): `firefox-esr --headless --marionette`, the generated
Firefox build installed as a temporary add-on, the host manifest in ~/.mozilla/native-messaging-hosts
(HOME points at a throw-away folder). The host starts the agent itself here (none is running)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from sceau.devkit.bridge import EXTENSION, Bridge, host_launcher
from sceau.devkit.pki import DevPki
from sceau.devkit.testsite import RelyingParty
from sceau_native_host.manifests import write_manifest
from tests.e2e.helpers import make_bridge, validator

FIREFOX = "/usr/bin/firefox-esr"
PREFS = {
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "app.update.disabledForTesting": True,
    "browser.aboutwelcome.enabled": False,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ff_bridge(e2e_root: Path, softhsm_module: str, softhsm_conf: Path) -> Iterator[Bridge]:
    b = make_bridge(e2e_root / "firefox", softhsm_module, softhsm_conf, max_message_bytes=2 * 1024 * 1024)
    yield b
    pid = b.agent_pid()
    if pid:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.kill(pid, 15)


@pytest.fixture(scope="module")
def marionette(ff_bridge: Bridge, e2e_root: Path) -> Iterator[Any]:
    if not Path(FIREFOX).exists():
        pytest.fail("firefox-esr is missing: `make test` installs it (apt-get install firefox-esr)")
    from marionette_driver.addons import Addons
    from marionette_driver.marionette import Marionette

    root = e2e_root / "ff"
    home, profile = root / "home", root / "profile"
    profile.mkdir(parents=True)
    home.mkdir()
    write_manifest(home / ".mozilla" / "native-messaging-hosts", "firefox", host_launcher())
    subprocess.run(
        [sys.executable, str(EXTENSION / "build_firefox.py"), "--out", str(root / "build")],
        check=True,
        capture_output=True,
    )
    port = free_port()
    prefs = {**PREFS, "marionette.port": port}
    (profile / "user.js").write_text(
        "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items()), encoding="utf-8"
    )
    log = open(root / "firefox.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [FIREFOX, "--headless", "--marionette", "--no-remote", "--profile", str(profile)],
        env={**ff_bridge.env, "HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = Marionette(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 60
    while True:
        try:
            client.start_session({"acceptInsecureCerts": True})  # the test site's certificate is self-signed
            break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("Firefox did not start: " + (root / "firefox.log").read_text(errors="replace")[-2000:])
            time.sleep(0.2)
    Addons(client).install(str(root / "build" / "sceau-firefox.xpi"), temp=True)
    yield client
    with __import__("contextlib").suppress(Exception):
        client.delete_session()
    proc.kill()
    proc.wait()
    log.close()
    shutil.rmtree(home, ignore_errors=True)


def run_js(m: Any, expression: str, *args: Any) -> Any:
    """Await `expression` in the page (no sandbox: the page's own `Sceau`) and return plain data."""
    script = f"const done = arguments[arguments.length - 1]; window.run(() => {expression}).then(done);"
    return m.execute_async_script(script, script_args=list(args), sandbox=None, script_timeout=60_000)


def open_rp(m: Any, url: str) -> None:
    m.navigate(url)
    m.execute_async_script(
        "const done = arguments[0]; const w = () => window.sceauReady ? done(true) : setTimeout(w, 50); w();",
        sandbox=None,
        script_timeout=15_000,
    )


def test_firefox_detect_and_authenticate(marionette: Any, ff_bridge: Bridge, rp: RelyingParty, pki: DevPki) -> None:
    origin = rp.origin(0)
    open_rp(marionette, origin + "/")
    detected = run_js(marionette, "Sceau.detect()")
    assert detected["ok"] and detected["result"]["extension"] and detected["result"]["agent"], detected

    # First use: the permission window opens; click "allow" in it.
    main = marionette.current_window_handle
    before = set(marionette.window_handles)
    marionette.execute_script(
        "window.__pending = window.run(() => Sceau.listCertificates({role: 'auth'}));", sandbox=None
    )
    deadline = time.monotonic() + 20
    while not (set(marionette.window_handles) - before):
        assert time.monotonic() < deadline, "no permission window"
        time.sleep(0.1)
    (popup,) = set(marionette.window_handles) - before
    marionette.switch_to_window(popup)
    deadline = time.monotonic() + 10
    question = ""
    while not question:
        assert time.monotonic() < deadline, "the permission window stayed empty"
        time.sleep(0.1)
        question = marionette.execute_script("return document.getElementById('question')?.textContent", sandbox=None)
    # Firefox's UI language decides (no French language pack here): either way it names site and purpose.
    assert f"localhost:{rp.ports[0]}" in question
    assert "authentification" in question or "authentication" in question
    deadline = time.monotonic() + 10  # "allow" is armed a moment after the prompt appears (clickjacking)
    while not marionette.execute_script("return !document.getElementById('allow').disabled", sandbox=None):
        assert time.monotonic() < deadline, "the allow button was never armed"
        time.sleep(0.1)
    marionette.find_element("id", "allow").click()
    marionette.switch_to_window(main)
    listed = marionette.execute_async_script(
        "const done = arguments[0]; window.__pending.then(done);", sandbox=None, script_timeout=30_000
    )
    assert listed["ok"] and listed["result"], listed
    wanted = pki.cert("auth-rsa2048").public_bytes(Encoding.DER)
    (handle,) = [c["id"] for c in listed["result"] if base64.b64decode(c["certificate"]) == wanted]

    nonce = rp.nonces.issue()
    token = run_js(marionette, "Sceau.authenticate(arguments[0], {certificate: arguments[1]})", nonce, handle)
    assert token["ok"], token
    user = validator(pki, origin, rp).validate(token["result"], nonce)
    assert user.common_name
