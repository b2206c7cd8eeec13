"""End-to-end: page → sceau.js → content script → background → native host → agent → SoftHSM2.

Every result is checked outside our code: authentication tokens by the relying-party validator
(chain to the test root, signature over the *page's* origin), signatures by `cryptography`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding

from sceau.devkit.bridge import Bridge
from sceau.devkit.pki import DevPki
from sceau.devkit.testsite import RelyingParty, call, open_page, result, start
from sceau.store.sites import TrustedSites
from sceau_native_host.manifests import DEV_EXTENSION_ID
from sceau_rp import AuthTokenError
from tests.e2e.helpers import answer_prompt, validator


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def verify_prehashed(cert_der_b64: str, signature_b64: str, digest: bytes) -> None:
    """Raises InvalidSignature unless `signature` is the certificate key's signature of `digest`."""
    key = x509.load_der_x509_certificate(base64.b64decode(cert_der_b64)).public_key()
    sig = base64.b64decode(signature_b64)
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        half = len(sig) // 2  # raw r ‖ s
        dss = utils.encode_dss_signature(int.from_bytes(sig[:half]), int.from_bytes(sig[half:]))
        key.verify(dss, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def grant(bridge: Bridge, origin: str, *kinds: str) -> None:
    """Pre-grant through the agent's shared store (what the tray or an earlier session would do)."""
    TrustedSites(Path(bridge.config.data_path())).grant(origin, kinds)


def nonce_of(page: Any) -> str:
    value: str = page.evaluate("fetch('/nonce').then(r => r.json()).then(j => j.nonce)")
    return value


def test_detect_list_authenticate(browser: Any, bridge: Bridge, rp: RelyingParty, pki: DevPki) -> None:
    origin = rp.origin(0)
    page = open_page(browser, origin + "/")
    info = page.evaluate("Sceau.detect()")
    assert info["extension"] is True and info["agent"] is True, info
    assert info["protocol"] == 1 and info["devMode"] is False

    text = answer_prompt(
        browser,
        lambda: start(page, "Sceau.listCertificates({role: 'auth'})"),
        allow=True,
        expect_text="veut utiliser votre certificat pour : authentification",
    )
    assert f"localhost:{rp.ports[0]}" in text
    listed = result(page)
    assert listed["ok"], listed
    wanted = pki.cert("auth-rsa2048")
    handles = {base64.b64decode(c["certificate"]): c["id"] for c in listed["result"]}
    assert der(wanted) in handles
    assert der(pki.cert("sign-rsa2048")) not in handles, "role filter: no signature certificate"

    nonce = nonce_of(page)
    token = call(page, f"Sceau.authenticate({json.dumps(nonce)}, {{certificate: {json.dumps(handles[der(wanted)])}}})")
    assert token["ok"], token
    assert token["result"]["format"] == "web-eid:1.0"
    user = validator(pki, origin, rp).validate(token["result"], nonce)
    assert user.certificate == wanted


def handle_of(page: Any, role: str, cert: x509.Certificate) -> str:
    """The id of `cert` among the listed certificates (the shared test token holds others too)."""
    listed = call(page, f"Sceau.listCertificates({{role: '{role}'}})")
    assert listed["ok"], listed
    for c in listed["result"]:
        if base64.b64decode(c["certificate"]) == der(cert):
            return str(c["id"])
    raise AssertionError(f"certificate not listed for role {role}")


def test_sign_hash_verifies(browser: Any, rp: RelyingParty, pki: DevPki) -> None:
    page = open_page(browser, rp.origin(0) + "/")
    # Listing signature certificates needs the site's "signature" permission: the prompt says so.
    answer_prompt(
        browser,
        lambda: start(page, "Sceau.listCertificates({role: 'sign'})"),
        allow=True,
        expect_text="pour : signature",
    )
    assert result(page)["ok"]
    handle = handle_of(page, "sign", pki.cert("sign-rsa2048"))
    digest = hashlib.sha256(b"offre de la societe Dupont").digest()
    b64 = json.dumps(base64.b64encode(digest).decode())
    signed = call(page, f"Sceau.signHash({{hash: {b64}, documentName: 'offre.pdf', certificate: '{handle}'}})")
    assert signed["ok"], signed
    assert base64.b64decode(signed["result"]["certificate"]) == der(pki.cert("sign-rsa2048"))
    verify_prehashed(signed["result"]["certificate"], signed["result"]["signature"], digest)


def test_permission_denied(browser: Any, rp: RelyingParty) -> None:
    page = open_page(browser, rp.origin(1) + "/")
    answer_prompt(browser, lambda: start(page, "Sceau.listCertificates({role: 'auth'})"), allow=False)
    assert result(page) == {"ok": False, "code": "ORIGIN_NOT_ALLOWED", "message": result(page)["message"]}
    # The refusal is remembered: no second prompt, same answer.
    pages_before = len(browser.pages)
    again = call(page, "Sceau.authenticate('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')")
    assert again["code"] == "ORIGIN_NOT_ALLOWED"
    assert len(browser.pages) == pages_before


def test_forged_origin_is_ignored(browser: Any, bridge: Bridge, rp: RelyingParty, pki: DevPki) -> None:
    origin = rp.origin(2)
    grant(bridge, origin, "authenticate")
    page = open_page(browser, origin + "/")
    handle = handle_of(page, "auth", pki.cert("auth-ec256"))
    nonce = nonce_of(page)
    # Bypass sceau.js: post a hand-made request claiming another origin.
    forge = """([id, nonce, certificate, extra]) => new Promise((resolve) => {
            window.addEventListener('message', (ev) => {
              const d = ev.data;
              if (d && d.sceau === 'response' && d.response.id === id) resolve(d.response);
            });
            window.postMessage({sceau: 'request', request: {v: 1, id, cmd: 'authenticate',
              origin: 'https://marches.example.gouv.fr', args: {nonce, certificate, ...extra}}}, location.origin);
        })"""
    # An `origin` argument is not a thing the agent reads: refused, not silently ignored.
    refused = page.evaluate(forge, ["forged-0", nonce, handle, {"origin": "https://marches.example.gouv.fr"}])
    assert refused["ok"] is False and refused["error"]["code"] == "BAD_REQUEST", refused
    token = page.evaluate(forge, ["forged-1", nonce, handle, {}])
    assert token["ok"], token
    # Valid for the page's real origin...
    validator(pki, origin, rp).validate(token["result"], nonce)
    # ...and not for the forged one.
    forged_nonce = rp.nonces.issue()
    with pytest.raises(AuthTokenError):
        validator(pki, "https://marches.example.gouv.fr", rp).validate(token["result"], forged_nonce)


def test_iframe_of_other_origin_is_itself(browser: Any, bridge: Bridge, rp: RelyingParty) -> None:
    parent_origin = rp.origin(0)
    frame_origin = rp.origin(3, host="127.0.0.1")
    grant(bridge, parent_origin, "list")
    page = browser.new_page()
    page.goto(f"{parent_origin}/embed?src={frame_origin}/")
    frame = page.wait_for_selector("#frame").content_frame()
    assert frame is not None
    frame.wait_for_function("window.sceauReady === true")
    text = answer_prompt(
        browser,
        lambda: frame.evaluate("() => { window.__pending = window.run(() => Sceau.listCertificates()); }"),
        allow=False,
    )
    # The prompt names the frame's own origin, not the embedding page's.
    assert f"127.0.0.1:{rp.ports[3]}" in text and f"localhost:{rp.ports[0]}" not in text
    assert frame.evaluate("window.__pending")["code"] == "ORIGIN_NOT_ALLOWED"


def test_oversized_request_is_refused(browser: Any, bridge: Bridge, rp: RelyingParty) -> None:
    page = open_page(browser, rp.origin(0) + "/")
    big = bridge.max_message_bytes + 1024
    out = call(page, f"Sceau.request('sign-hash', {{hash: 'A'.repeat({big})}})")
    assert out["ok"] is False and out["code"] == "TOO_LARGE", out
    # The bridge still works afterwards.
    assert call(page, "Sceau.request('hello')")["ok"]


def test_agent_killed_between_calls(browser: Any, bridge: Bridge, rp: RelyingParty) -> None:
    origin = rp.origin(2)
    grant(bridge, origin, "list")
    page = open_page(browser, origin + "/")
    assert call(page, "Sceau.listCertificates()")["ok"]
    before = bridge.agent_pid()
    bridge.kill_agent()
    time.sleep(0.2)  # let the host see the socket close
    after = call(page, "Sceau.listCertificates()")
    assert after["ok"], after
    assert bridge.agent_pid() not in (None, before), "the native host started a new agent"


def test_ten_tabs_at_once(browser: Any, bridge: Bridge, rp: RelyingParty) -> None:
    origin = rp.origin(1, host="127.0.0.1")
    grant(bridge, origin, "sign")
    pages = [open_page(browser, origin + "/") for _ in range(10)]
    digests = [hashlib.sha256(f"document {i}".encode()).digest() for i in range(10)]
    for page, digest in zip(pages, digests, strict=True):
        start(page, f"Sceau.signHash({{hash: {json.dumps(base64.b64encode(digest).decode())}}})")
    for page, digest in zip(pages, digests, strict=True):
        page.wait_for_function("window.__pending !== undefined")
        out = result(page)
        assert out["ok"], out
        # Each tab got the signature of *its* digest.
        verify_prehashed(out["result"]["certificate"], out["result"]["signature"], digest)
    for page in pages:
        page.close()


def test_http_localhost_is_refused_outside_dev_mode(browser: Any, rp: RelyingParty) -> None:
    page = open_page(browser, rp.http_origin() + "/")
    info = page.evaluate("Sceau.detect()")
    assert info == {
        "extension": True,
        "extensionVersion": "0.1.0",
        "agent": False,
        "errorCode": "ORIGIN_NOT_ALLOWED",
        "transport": "extension",
    }
    assert call(page, "Sceau.listCertificates()")["code"] == "ORIGIN_NOT_ALLOWED"


def test_options_page_lists_and_revokes(browser: Any, bridge: Bridge, rp: RelyingParty) -> None:
    origin = rp.origin(3)
    grant(bridge, origin, "sign")
    sites = TrustedSites(Path(bridge.config.data_path()))
    assert sites.is_allowed(origin, "sign")
    page = browser.new_page()
    page.goto(f"chrome-extension://{DEV_EXTENSION_ID}/options/options.html")
    button = page.locator(f'#granted button[data-origin="{origin}"]')
    button.wait_for()
    assert button.inner_text() == "Retirer"
    assert "signature" in page.locator("#granted").inner_text()
    button.click()
    page.locator(f'#granted button[data-origin="{origin}"]').wait_for(state="detached")
    assert not sites.is_allowed(origin, "sign")  # revoked in the agent's store, shared with the tray
    page.close()


def test_one_key_operation_per_tab(browser: Any, bridge: Bridge, rp: RelyingParty) -> None:
    origin = rp.origin(1, host="127.0.0.1")
    grant(bridge, origin, "sign")
    page = open_page(browser, origin + "/")
    h = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    outcomes = page.evaluate(f"""Promise.all([1, 2].map(() => window.run(() => Sceau.signHash({{hash: '{h}'}}))))""")
    assert sorted(o.get("code", "OK") for o in outcomes) == ["BUSY", "OK"], outcomes
    assert call(page, f"Sceau.signHash({{hash: '{h}'}})")["ok"]  # free again once the first finished


def host_pids(bridge: Bridge) -> list[int]:
    """Native hosts started by this test's browser (found by their environment)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            env = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"sceau-native-host" in cmd and f"XDG_CONFIG_HOME={bridge.env['XDG_CONFIG_HOME']}".encode() in env:
            pids.append(int(proc.name))
    return pids


def test_extension_reconnects_when_the_host_exits(browser: Any, bridge: Bridge, rp: RelyingParty) -> None:
    origin = rp.origin(2)
    grant(bridge, origin, "list")
    page = open_page(browser, origin + "/")
    assert call(page, "Sceau.listCertificates()")["ok"]
    pids = host_pids(bridge)
    assert len(pids) == 1, pids  # one persistent port, one host for every tab
    os.kill(pids[0], signal.SIGKILL)
    time.sleep(0.2)
    assert call(page, "Sceau.listCertificates()")["ok"]
    assert host_pids(bridge) not in ([], pids)


def test_page_cannot_send_extension_only_or_malformed_requests(browser: Any, bridge: Bridge, rp: RelyingParty) -> None:
    origin = rp.origin(0)
    page = open_page(browser, origin + "/")
    sites = TrustedSites(Path(bridge.config.data_path()))
    grant_self = call(page, f"Sceau.request('site-grant', {{origin: '{origin}', operations: ['decrypt']}})")
    assert grant_self["code"] == "UNSUPPORTED"
    assert not sites.is_allowed(origin, "decrypt")
    assert call(page, "Sceau.request('frobnicate')")["code"] == "UNSUPPORTED"
    raw = page.evaluate(
        """() => new Promise((resolve) => {
            const got = {};
            window.addEventListener('message', (ev) => {
              const r = ev.data && ev.data.sceau === 'response' && ev.data.response;
              if (r && r.id) { got[r.id] = r.error && r.error.code; if (Object.keys(got).length === 2) resolve(got); }
            });
            window.postMessage({sceau: 'request', request: {v: 2, id: 'v2', cmd: 'hello'}}, location.origin);
            window.postMessage({sceau: 'request', request: {v: 1, id: 'bad-args', cmd: 'hello', args: [1]}},
                               location.origin);
        })"""
    )
    assert raw == {"v2": "UNSUPPORTED", "bad-args": "BAD_REQUEST"}
