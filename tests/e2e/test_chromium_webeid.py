"""Pages written for the Web eID library, in real Chromium with Sceau's extension only.

A client written in the tests from web-eid.js's published message protocol (`webeid_client.js`)
drives the extension exactly as the library does. Tokens are checked by `sceau_rp` and by the
independent rule set of `webeid_rules.py`; signatures by `cryptography` against the certificate.
This module has its own agent, profile and site, so it can stop the agent at the end.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from sceau.devkit.bridge import Bridge
from sceau.devkit.pki import DevPki
from sceau.devkit.testsite import RelyingParty, open_page
from sceau.protocol.auth_token import APP_VERSION_URL
from sceau.store.sites import TrustedSites
from tests.e2e.helpers import answer_prompt, chromium, make_bridge, validator
from tests.e2e.webeid_rules import check_token

CLIENT = Path(__file__).with_name("webeid_client.js")
SEMVER_2 = r"^2\.\d+\.\d+\+sceau\.[0-9A-Za-z.-]+$"


@pytest.fixture(scope="module")
def wb_bridge(e2e_root: Path, softhsm_module: str, softhsm_conf: Path) -> Iterator[Bridge]:
    b = make_bridge(e2e_root / "webeid", softhsm_module, softhsm_conf, max_message_bytes=2 * 1024 * 1024)
    proc = b.start_agent()
    yield b
    b.stop_agent(proc)


@pytest.fixture(scope="module")
def wb_rp(e2e_root: Path) -> Iterator[RelyingParty]:
    folder = e2e_root / "webeid-rp"
    folder.mkdir()
    server = RelyingParty(folder, ports=3)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def wb_browser(playwright_instance: Any, wb_bridge: Bridge, e2e_root: Path) -> Iterator[Any]:
    context = chromium(playwright_instance, e2e_root / "webeid-profile", wb_bridge.env)
    yield context
    context.close()


def webeid_page(context: Any, url: str) -> Any:
    page = open_page(context, url)
    page.add_script_tag(content=CLIENT.read_text(encoding="utf-8"))
    page.wait_for_function("window.webeid !== undefined")
    return page


def run(page: Any, js: str) -> dict[str, Any]:
    out: dict[str, Any] = page.evaluate(f"webeid.run(() => {js})")
    return out


def seen(page: Any, prefix: str) -> list[str]:
    actions: list[str] = page.evaluate("webeid.seen.map((m) => m.action)")
    return [a for a in actions if a.startswith(prefix)]


def grant(bridge: Bridge, origin: str, *kinds: str) -> None:
    TrustedSites(Path(bridge.config.data_path())).grant(origin, kinds)


def test_status_versions_pass_the_library_check(wb_browser: Any, wb_rp: RelyingParty) -> None:
    page = webeid_page(wb_browser, wb_rp.origin(0) + "/")
    out = run(page, "webeid.status()")
    assert out["ok"], out
    r = out["result"]
    assert r["action"] == "web-eid:status-success" and r["library"] == "2.1.0"
    assert re.match(SEMVER_2, r["extension"]) and re.match(SEMVER_2, r["nativeApp"]), r
    assert r["ackMs"] < 1000, r
    # Acknowledged once, answered once.
    assert seen(page, "web-eid:status") == ["web-eid:status", "web-eid:status-ack", "web-eid:status-success"]
    # A library of a newer major version: the library's own rule says both parts need an update.
    newer = run(page, "webeid.status('3.0.0')")
    assert newer["ok"] is False and newer["code"] == "ERR_WEBEID_VERSION_MISMATCH", newer
    assert newer["error"]["requiresUpdate"] == {"extension": True, "nativeApp": True}
    bad = run(page, "webeid.status('two')")
    assert bad["code"] == "ERR_WEBEID_VERSION_INVALID", bad


def test_authenticate_token_validates_twice(
    wb_browser: Any, wb_bridge: Bridge, wb_rp: RelyingParty, pki: DevPki
) -> None:
    origin = wb_rp.origin(0)
    page = webeid_page(wb_browser, origin + "/")
    nonce = wb_rp.nonces.issue()
    # First use on this site: the extension's permission prompt, as for Sceau's own API.
    answer_prompt(
        wb_browser,
        lambda: page.evaluate(
            f"() => {{ window.__auth = webeid.run(() => webeid.authenticate({json.dumps(nonce)}, {{lang: 'fr'}})); }}"
        ),
        allow=True,
        expect_text="authentification",
    )
    out = page.evaluate("window.__auth")
    assert out["ok"], out
    token = {k: out["result"][k] for k in ("unverifiedCertificate", "algorithm", "signature", "format", "appVersion")}
    assert token["format"] == "web-eid:1.0"
    assert token["appVersion"].startswith(APP_VERSION_URL.split("{")[0]) and "sceau.example" not in token["appVersion"]
    cas = [x509.load_pem_x509_certificate(Path(p).read_bytes()) for p in (pki.root_ca, pki.intermediate_ca)]
    cert = check_token(token, origin=origin, nonce=nonce, cas=cas)
    user = validator(pki, origin, wb_rp).validate(token, nonce)
    assert user.certificate == cert
    assert seen(page, "web-eid:authenticate") == [
        "web-eid:authenticate",
        "web-eid:authenticate-ack",
        "web-eid:authenticate-success",
    ]


def test_signing_certificate_and_sign_verify(wb_browser: Any, wb_bridge: Bridge, wb_rp: RelyingParty) -> None:
    origin = wb_rp.origin(1)
    grant(wb_bridge, origin, "sign")
    page = webeid_page(wb_browser, origin + "/")
    got = run(page, "webeid.getSigningCertificate({lang: 'en'})")
    assert got["ok"], got
    cert = x509.load_der_x509_certificate(base64.b64decode(got["result"]["certificate"]))
    algs = got["result"]["supportedSignatureAlgorithms"]
    assert {"cryptoAlgorithm", "hashFunction", "paddingScheme"} <= set(algs[0])
    for name, h in (("SHA-256", hashes.SHA256()), ("SHA-384", hashes.SHA384())):
        digest = hashlib.new(h.name, b"acte d'engagement").digest()
        args = f"{json.dumps(got['result']['certificate'])}, {json.dumps(base64.b64encode(digest).decode())}, '{name}'"
        signed = run(page, f"webeid.sign({args})")
        assert signed["ok"], signed
        alg = signed["result"]["signatureAlgorithm"]
        assert alg["hashFunction"] == name
        sig = base64.b64decode(signed["result"]["signature"])
        key = cert.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            assert alg == {"cryptoAlgorithm": "RSA", "hashFunction": name, "paddingScheme": "PKCS1.5"}
            key.verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(h))
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey) and alg["cryptoAlgorithm"] == "ECC"
            n = len(sig) // 2
            der = utils.encode_dss_signature(int.from_bytes(sig[:n]), int.from_bytes(sig[n:]))
            key.verify(der, digest, ec.ECDSA(utils.Prehashed(h)))
    # A hash that does not match its function, an unknown certificate: invalid arguments.
    short = run(page, f"webeid.sign({json.dumps(got['result']['certificate'])}, 'AAAA', 'SHA-256')")
    assert short["code"] == "ERR_WEBEID_NATIVE_INVALID_ARGUMENT", short
    other = base64.b64encode(b"\x30\x03\x02\x01\x00").decode()
    unknown = run(page, f"webeid.sign('{other}', {json.dumps(base64.b64encode(bytes(32)).decode())}, 'SHA-256')")
    assert unknown["code"] == "ERR_WEBEID_NATIVE_INVALID_ARGUMENT", unknown


def test_refusal_is_user_cancelled(wb_browser: Any, wb_rp: RelyingParty) -> None:
    origin = wb_rp.origin(2)
    page = webeid_page(wb_browser, origin + "/")
    nonce = wb_rp.nonces.issue()
    answer_prompt(
        wb_browser,
        lambda: page.evaluate(
            f"() => {{ window.__auth = webeid.run(() => webeid.authenticate({json.dumps(nonce)})); }}"
        ),
        allow=False,
    )
    out = page.evaluate("window.__auth")
    assert out["ok"] is False and out["code"] == "ERR_WEBEID_USER_CANCELLED", out


OTHER_WEBEID = {
    "manifest_version": 3,
    "name": "Another Web eID extension",
    "version": "2.9.9",
    "content_scripts": [{"matches": ["https://*/*"], "js": ["content.js"], "run_at": "document_start"}],
}
# What the official extension's content script does: ack at once, answer when its native app has.
OTHER_CONTENT = """
window.addEventListener("message", (ev) => {
  if (ev.source !== window || ev.data?.action !== "web-eid:status") return;
  window.postMessage({ action: "web-eid:status-ack" }, ev.origin);
  setTimeout(() => window.postMessage({ action: "web-eid:status-success", library: ev.data.libraryVersion,
    extension: "2.9.9", nativeApp: "2.9.9" }, ev.origin), 600);
});
"""


def test_other_webeid_extension_answers_first(
    playwright_instance: Any, wb_bridge: Bridge, wb_rp: RelyingParty, e2e_root: Path
) -> None:
    """Both extensions installed (two content scripts, two isolated worlds): one ack, one answer."""
    from sceau.devkit.bridge import EXTENSION

    other = e2e_root / "other-webeid"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps(OTHER_WEBEID), encoding="utf-8")
    (other / "content.js").write_text(OTHER_CONTENT, encoding="utf-8")
    context = chromium(
        playwright_instance, e2e_root / "webeid-two-profile", wb_bridge.env, extensions=[EXTENSION, other]
    )
    try:
        page = webeid_page(context, wb_rp.origin(0, host="127.0.0.1") + "/")
        out = run(page, "webeid.status()")
        assert out["ok"] and out["result"]["extension"] == "2.9.9", out
        page.wait_for_timeout(800)  # Sceau would have answered by now
        assert seen(page, "web-eid:status") == ["web-eid:status", "web-eid:status-ack", "web-eid:status-success"]
    finally:
        context.close()


def test_site_setting_off_leaves_the_page_alone(wb_browser: Any, wb_rp: RelyingParty) -> None:
    """The options page: a site set to "off" gets no answer at all; "Répondre de nouveau" undoes it;
    the default itself can be "off"."""
    origin = wb_rp.origin(1, host="127.0.0.1")
    ext_id = wb_browser.service_workers[0].url.split("/")[2]
    options = wb_browser.new_page()
    options.goto(f"chrome-extension://{ext_id}/options/options.html")
    assert options.locator("#webeid-default").is_checked()  # the documented default: auto
    options.fill("#webeid-site", origin + "/some/page")
    options.click("#webeid-add button")
    again = options.locator(f'#webeid-sites button[data-origin="{origin}"]')
    again.wait_for()
    assert again.inner_text() == "Répondre de nouveau"
    try:
        page = webeid_page(wb_browser, origin + "/")
        out = run(page, "webeid.status()")
        assert out["code"] == "ERR_WEBEID_EXTENSION_UNAVAILABLE", out
        assert seen(page, "web-eid:status") == ["web-eid:status"]
        again.click()
        again.wait_for(state="detached")
        assert run(webeid_page(wb_browser, origin + "/"), "webeid.status()")["ok"]
        options.uncheck("#webeid-default")
        options.wait_for_timeout(200)
        other = run(webeid_page(wb_browser, wb_rp.origin(2, host="127.0.0.1") + "/"), "webeid.status()")
        assert other["code"] == "ERR_WEBEID_EXTENSION_UNAVAILABLE", other
    finally:
        wb_browser.service_workers[0].evaluate("chrome.storage.local.remove('webeid')")
        options.close()


def test_agent_stopped_is_native_unavailable(wb_browser: Any, wb_bridge: Bridge, wb_rp: RelyingParty) -> None:
    """Last: the agent dies and cannot be restarted (its configuration is broken meanwhile)."""
    origin = wb_rp.origin(1)
    grant(wb_bridge, origin, "sign")
    page = webeid_page(wb_browser, origin + "/")
    assert run(page, "webeid.getSigningCertificate()")["ok"]
    config = wb_bridge.root / "cfg" / "sceau" / "config.toml"
    saved = config.read_text(encoding="utf-8")
    config.write_text("this is [ not toml\n", encoding="utf-8")
    try:
        wb_bridge.kill_agent()
        out = run(page, "webeid.getSigningCertificate()")
        assert out["ok"] is False and out["code"] == "ERR_WEBEID_NATIVE_UNAVAILABLE", out
    finally:
        config.write_text(saved, encoding="utf-8")
        pid = wb_bridge.agent_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
