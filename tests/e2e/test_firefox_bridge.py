"""Firefox ESR end to end (DESIGN.md §7): `firefox-esr --headless --marionette`, the generated
Firefox build installed as a temporary add-on, the host manifest in ~/.mozilla/native-messaging-hosts
(HOME points at a throw-away folder). The host starts the agent itself here (none is running)."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from sceau.devkit.bridge import Bridge
from sceau.devkit.browsers import FIREFOX, firefox_with_extension
from sceau.devkit.pki import DevPki
from sceau.devkit.testsite import RelyingParty
from tests.e2e.helpers import make_bridge, validator

WEBEID_CLIENT = Path(__file__).with_name("webeid_client.js")


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
    with firefox_with_extension(e2e_root / "ff", ff_bridge.env) as client:
        yield client


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


# ---- Web eID pages (the tests' web-eid.js protocol client, tests/e2e/webeid_client.js) ----------


def webeid(m: Any, expression: str, *args: Any) -> Any:
    script = f"const done = arguments[arguments.length - 1]; webeid.run(() => {expression}).then(done);"
    return m.execute_async_script(script, script_args=list(args), sandbox=None, script_timeout=60_000)


def open_webeid(m: Any, url: str) -> None:
    open_rp(m, url)
    m.execute_script(WEBEID_CLIENT.read_text(encoding="utf-8"), sandbox=None)


def test_firefox_webeid_flows(marionette: Any, ff_bridge: Bridge, rp: RelyingParty, pki: DevPki) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

    from sceau.store.sites import TrustedSites
    from tests.e2e.webeid_rules import check_token

    origin = rp.origin(3)
    TrustedSites(Path(ff_bridge.config.data_path())).grant(origin, ["authenticate", "sign"])
    open_webeid(marionette, origin + "/")
    status = webeid(marionette, "webeid.status()")
    assert status["ok"] and status["result"]["nativeApp"].startswith("2."), status

    nonce = rp.nonces.issue()
    out = webeid(marionette, "webeid.authenticate(arguments[0], {lang: 'fr'})", nonce)
    assert out["ok"], out
    token = {k: out["result"][k] for k in ("unverifiedCertificate", "algorithm", "signature", "format", "appVersion")}
    cas = [x509.load_pem_x509_certificate(Path(p).read_bytes()) for p in (pki.root_ca, pki.intermediate_ca)]
    cert = check_token(token, origin=origin, nonce=nonce, cas=cas)
    assert validator(pki, origin, rp).validate(token, nonce).certificate == cert

    got = webeid(marionette, "webeid.getSigningCertificate()")
    assert got["ok"], got
    digest = bytes(range(32))
    signed = webeid(
        marionette, "webeid.sign(arguments[0], arguments[1], 'SHA-256')", got["result"]["certificate"],
        base64.b64encode(digest).decode(),
    )  # fmt: skip
    assert signed["ok"], signed
    key = x509.load_der_x509_certificate(base64.b64decode(got["result"]["certificate"])).public_key()
    sig = base64.b64decode(signed["result"]["signature"])
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    else:
        from cryptography.hazmat.primitives.asymmetric import ec

        n = len(sig) // 2
        der = utils.encode_dss_signature(int.from_bytes(sig[:n]), int.from_bytes(sig[n:]))
        key.verify(der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def test_firefox_webeid_cancel_and_agent_stopped(marionette: Any, ff_bridge: Bridge, rp: RelyingParty) -> None:
    """Refused site permission → ERR_WEBEID_USER_CANCELLED; then the agent dies and cannot be
    restarted → ERR_WEBEID_NATIVE_UNAVAILABLE. Last test of the module (it stops the agent)."""
    origin = rp.origin(2, host="127.0.0.1")
    open_webeid(marionette, origin + "/")
    main = marionette.current_window_handle
    before = set(marionette.window_handles)
    marionette.execute_script(
        "window.__w = webeid.run(() => webeid.authenticate(arguments[0]));",
        script_args=[rp.nonces.issue()],
        sandbox=None,
    )
    deadline = time.monotonic() + 20
    while not (set(marionette.window_handles) - before):
        assert time.monotonic() < deadline, "no permission window"
        time.sleep(0.1)
    (popup,) = set(marionette.window_handles) - before
    marionette.switch_to_window(popup)
    deadline = time.monotonic() + 10
    while not marionette.execute_script("return document.getElementById('question')?.textContent", sandbox=None):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    marionette.find_element("id", "deny").click()
    marionette.switch_to_window(main)
    cancelled = marionette.execute_async_script(
        "const done = arguments[0]; window.__w.then(done);", sandbox=None, script_timeout=30_000
    )
    assert cancelled["ok"] is False and cancelled["code"] == "ERR_WEBEID_USER_CANCELLED", cancelled

    from sceau.store.sites import TrustedSites

    TrustedSites(Path(ff_bridge.config.data_path())).grant(origin, ["sign"])
    assert webeid(marionette, "webeid.getSigningCertificate()")["ok"]
    config = ff_bridge.root / "cfg" / "sceau" / "config.toml"
    saved = config.read_text(encoding="utf-8")
    config.write_text("this is [ not toml\n", encoding="utf-8")
    try:
        # The host started this agent (not our child): once killed it stays a zombie of the host.
        import psutil

        agent = psutil.Process(ff_bridge.agent_pid())
        agent.kill()
        deadline = time.monotonic() + 10
        while agent.is_running() and agent.status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the agent did not die"
            time.sleep(0.05)
        out = webeid(marionette, "webeid.getSigningCertificate()")
        assert out["ok"] is False and out["code"] == "ERR_WEBEID_NATIVE_UNAVAILABLE", out
    finally:
        config.write_text(saved, encoding="utf-8")
