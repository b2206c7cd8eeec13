"""The browser path with the agent's real Tk dialogs (no --yes): Chromium → extension → native host →
agent on Xvfb. The test finds each dialog on the X display (xdotool), answers it with real key
presses, and checks what the dialog showed in the journal the agent wrote from it (site, operation,
document, digest, certificate, page-supplied parameters). Refusal, timeout and a wrong PIN retried
in the dialog go through the browser; the signature is checked with `cryptography`."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from sceau.devkit import softhsm
from sceau.devkit.bridge import Bridge
from sceau.devkit.testsite import RelyingParty, open_page, result, start
from sceau.store.sites import TrustedSites
from tests.e2e.helpers import E2E_ENV, chromium, journal
from tests.ui.conftest import xvfb  # noqa: F401 - the session's private X server
from tests.ui.ui_helpers import ARTIFACTS, XDriver

# Regular expressions on the window title (xdotool matches ASCII patterns more reliably than "—").
CONSENT_TITLE = "demande d.autorisation"
PIN_TITLE = "code PIN"


@pytest.fixture(scope="module")
def desktop_bridge(e2e_root: Path, softhsm_module: str, softhsm_conf: Path, xvfb: str) -> Iterator[Bridge]:  # noqa: F811
    root = e2e_root / "dialogs"
    root.mkdir()
    env = {**os.environ, **E2E_ENV, "SCEAU_LANG": "fr", "DISPLAY": xvfb}
    bridge = Bridge.prepare(root, module=softhsm_module, softhsm_conf=softhsm_conf, headless=False, env=env)
    with (root / "cfg" / "sceau" / "config.toml").open("a", encoding="utf-8") as fh:
        fh.write("consent_timeout_s = 12\ncard_events = false\n")
    proc = bridge.start_agent()
    yield bridge
    for pid in {proc.pid if proc else None, bridge.agent_pid()}:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


@pytest.fixture(scope="module")
def dialog_browser(playwright_instance: Any, desktop_bridge: Bridge, e2e_root: Path) -> Iterator[Any]:
    context = chromium(playwright_instance, e2e_root / "profile-dialogs", desktop_bridge.env)
    yield context
    context.close()


def window(x: XDriver, title: str, timeout: float = 20) -> str:
    """The id of the visible X window named `title` (the agent's dialog), once it is mapped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--name", title], env=x.env, capture_output=True, text=True
        )
        ids = out.stdout.split()
        if ids:
            return ids[-1]
        time.sleep(0.1)
    listing = subprocess.run(["xdotool", "search", "--name", ""], env=x.env, capture_output=True, text=True)
    names = [
        subprocess.run(["xdotool", "getwindowname", w], env=x.env, capture_output=True, text=True).stdout.strip()
        for w in listing.stdout.split()
    ]
    raise AssertionError(f"no dialog {title!r} on the display {x.display}: {names}")


def focus_and(x: XDriver, win: str, *keys: str) -> None:
    subprocess.run(["xdotool", "windowfocus", "--sync", win], env=x.env, check=False)
    x.key(*keys)


def shot(x: XDriver, name: str) -> None:
    with contextlib.suppress(Exception):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-window", "root", str(ARTIFACTS / f"{name}.png")], env=x.env, check=False)


def sign_hash_js(digest: bytes, pki: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    handle = hashlib.sha256(pki.cert("sign-rsa2048").public_bytes(Encoding.DER)).hexdigest()[:32]
    b64 = base64.b64encode(digest).decode()
    return (
        f"Sceau.signHash({{hash: '{b64}', certificate: '{handle}', documentName: 'Acte_engagement.pdf', "
        "documentSize: 1234})"
    )


def test_consent_then_wrong_pin_retried_in_the_dialog(
    dialog_browser: Any,
    desktop_bridge: Bridge,
    rp: RelyingParty,
    xvfb: str,  # noqa: F811
    pki: Any,
) -> None:
    x = XDriver(xvfb)
    origin = rp.origin(0)
    TrustedSites(Path(desktop_bridge.config.data_path())).grant(origin, ["sign"])
    page = open_page(dialog_browser, origin + "/")
    digest = hashlib.sha256(b"acte d'engagement").digest()
    before = len(journal(desktop_bridge))
    start(page, sign_hash_js(digest, pki))
    consent = window(x, CONSENT_TITLE)
    shot(x, "e2e-consent-sign-hash")
    time.sleep(1.0)  # the arming delay: Return before it would be ignored
    focus_and(x, consent, "Return")
    pin = window(x, PIN_TITLE)
    subprocess.run(["xdotool", "windowfocus", "--sync", pin], env=x.env, check=False)
    x.type("0000")  # a wrong PIN...
    x.key("Return")
    time.sleep(1.0)
    pin = window(x, PIN_TITLE)  # ...the dialog asks again (not returned to the page)
    shot(x, "e2e-pin-retry")
    subprocess.run(["xdotool", "windowfocus", "--sync", pin], env=x.env, check=False)
    x.type(softhsm.USER_PIN)
    x.key("Return")
    outcome = result(page)
    assert outcome["ok"] is True, outcome
    res = outcome["result"]
    cert = x509.load_der_x509_certificate(base64.b64decode(res["certificate"]))
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)  # the test token's first signing key
    key.verify(base64.b64decode(res["signature"]), digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    # What the dialog showed, as the agent journalled it.
    record = journal(desktop_bridge, at_least=before + 1)[-1]
    assert record["origin"] == origin and record["operation"] == "sign" and record["result"] == "ok"
    (doc,) = record["documents"]
    assert doc["name"] == "Acte_engagement.pdf" and doc["digest"] == digest.hex() and doc["digestAlgorithm"] == "sha256"
    assert (
        record["certificate"]["fingerprintSha256"] == hashlib.sha256(base64.b64decode(res["certificate"])).hexdigest()
    )
    assert "sha256" in record["detail"]  # the page-supplied parameter line (only a digest was sent)


def test_refusal_in_the_dialog(
    dialog_browser: Any,
    desktop_bridge: Bridge,
    rp: RelyingParty,
    xvfb: str,  # noqa: F811
    pki: Any,
) -> None:
    x = XDriver(xvfb)
    origin = rp.origin(0)
    page = open_page(dialog_browser, origin + "/")
    before = len(journal(desktop_bridge))
    start(page, sign_hash_js(hashlib.sha256(b"refus").digest(), pki))
    consent = window(x, CONSENT_TITLE)
    focus_and(x, consent, "Escape")
    assert result(page)["code"] == "USER_CANCELLED"
    assert journal(desktop_bridge, at_least=before + 1)[-1]["result"] == "USER_CANCELLED"


def test_unanswered_dialog_times_out(
    dialog_browser: Any,
    desktop_bridge: Bridge,
    rp: RelyingParty,
    xvfb: str,  # noqa: F811
    pki: Any,
) -> None:
    x = XDriver(xvfb)
    page = open_page(dialog_browser, rp.origin(0) + "/")
    start(page, sign_hash_js(hashlib.sha256(b"attente").digest(), pki))
    window(x, CONSENT_TITLE)
    started = time.monotonic()
    assert result(page)["code"] == "TIMEOUT"  # consent_timeout_s = 12
    assert time.monotonic() - started < 30
