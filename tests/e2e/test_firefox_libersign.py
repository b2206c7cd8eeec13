"""LiberSign drop-in in Firefox ESR (marionette, the generated Firefox build as a temporary add-on): the
same unchanged S²low-style pages as the Chromium test sign through the injected `LiberSign` object of a
site enabled from the first-use prompt; the outputs are checked with openssl and xmlsec1."""

from __future__ import annotations

import base64
import contextlib
import hashlib
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
from sceau.store.sites import TrustedSites
from sceau_rp import libersign as rp_kit
from tests.e2e.helpers import make_bridge
from tests.e2e.libersign_pages import DATA_TO_SIGN, PES, actes_siginfos, helios_siginfo, legacy_page
from tests.e2e.test_chromium_libersign import check_actes, check_pes

SIGNER = "sign-rsa2048"


@pytest.fixture(scope="module")
def lsb_bridge(e2e_root: Path, softhsm_module: str, softhsm_conf: Path) -> Iterator[Bridge]:
    b = make_bridge(e2e_root / "ff-libersign-bridge", softhsm_module, softhsm_conf, max_message_bytes=2 * 1024 * 1024)
    yield b
    pid = b.agent_pid()
    if pid:
        with contextlib.suppress(ProcessLookupError):
            __import__("os").kill(pid, 15)


@pytest.fixture(scope="module")
def firefox(lsb_bridge: Bridge, e2e_root: Path) -> Iterator[Any]:
    if not Path(FIREFOX).exists():
        pytest.fail("firefox-esr is missing: `make test` installs it (apt-get install firefox-esr)")
    with firefox_with_extension(e2e_root / "ff-libersign", lsb_bridge.env) as client:
        yield client


def handle(pki: DevPki, name: str) -> str:
    return hashlib.sha256(pki.cert(name).public_bytes(Encoding.DER)).hexdigest()[:32]


def js(m: Any, script: str, *args: Any) -> Any:
    return m.execute_script(script, script_args=list(args), sandbox=None)


def wait_js(m: Any, expression: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = js(m, f"return ({expression});")
        if value is not None and value is not False:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.1)


def sign_on_legacy_page(m: Any, cert_id: str) -> Any:
    wait_js(m, f"!!document.querySelector(\"tr[data-id='{cert_id}']\")")
    js(
        m,
        f"document.querySelector(\"tr[data-id='{cert_id}']\").click();"
        " document.getElementById('libersign-confirm').click();",
    )
    return wait_js(m, "window.__signed || (window.__error && JSON.stringify(window.__error))")


def test_firefox_unchanged_pages_with_injected_libersign(
    firefox: Any, lsb_bridge: Bridge, rp: RelyingParty, pki: DevPki, tmp_path: Path
) -> None:
    m = firefox
    site = rp.origin(3, "localhost")
    not_enabled = rp.origin(3, "127.0.0.1")
    TrustedSites(Path(lsb_bridge.config.data_path())).grant(site, ["sign"])
    files = [f"Acte n°{n}".encode() * (n + 2) for n in range(5)]
    rp.pages["ff-actes"] = legacy_page("Actes", actes_siginfos([rp_kit.sha1_hex(f) for f in files]))
    info = rp_kit.pes_signature_info(PES)
    rp.pages["ff-helios"] = legacy_page("PES", [helios_siginfo(info.hash, info.pesid)])
    rp.pages["ff-parapheur"] = DATA_TO_SIGN

    m.navigate(not_enabled + "/")  # a page that does not look like a LiberSign page: no prompt either
    assert js(m, "return typeof window.LiberSign;") == "undefined"

    main = m.current_window_handle
    before = set(m.window_handles)
    m.navigate(site + "/p/ff-actes")
    deadline = time.monotonic() + 20
    while not (set(m.window_handles) - before):
        assert time.monotonic() < deadline, "no LiberSign prompt"
        time.sleep(0.1)
    time.sleep(0.5)
    urls = {}
    for handle_ in set(m.window_handles) - before:
        m.switch_to_window(handle_)
        urls[handle_] = m.get_url()
    prompts = [h for h, u in urls.items() if "permission/libersign.html" in u]
    assert len(prompts) == 1, list(urls.values())
    m.switch_to_window(prompts[0])
    question = wait_js(m, "document.getElementById('question')?.textContent || null", 10)
    assert f"localhost:{rp.ports[3]}" in question and "LiberSign" in question, question
    m.find_element("id", "allow").click()
    m.switch_to_window(main)
    wait_js(m, "typeof window.LiberSign === 'object' && window.__events && window.__events.includes('loaded')", 30)

    signatures = sign_on_legacy_page(m, handle(pki, SIGNER))
    assert isinstance(signatures, list), signatures
    check_actes(pki, signatures, files, tmp_path)

    m.navigate(site + "/p/ff-helios")
    wait_js(m, "window.__events && window.__events.includes('loaded')", 30)
    signatures = sign_on_legacy_page(m, handle(pki, SIGNER))
    assert isinstance(signatures, list) and len(signatures) == 1, signatures
    check_pes(pki, signatures[0], tmp_path)

    m.navigate(site + "/p/ff-parapheur")
    data = [b"donnees a signer"]
    out = m.execute_async_script(
        "const done = arguments[arguments.length - 1]; window.signData(arguments[0], arguments[1]).then(done);",
        script_args=[handle(pki, SIGNER), [base64.b64encode(d).decode() for d in data]],
        sandbox=None,
        script_timeout=60_000,
    )
    assert out["ok"], out
    rp_kit.verify_data_signature(data[0], base64.b64decode(out["signatures"][0]), pki.cert(SIGNER))
