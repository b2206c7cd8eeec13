"""Dev mode: with `dev_mode = true` in the agent's configuration, http://localhost and
http://127.0.0.1 pages may use the bridge (their real origin is still what the agent signs)."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sceau.devkit.bridge import Bridge
from sceau.devkit.pki import DevPki
from sceau.devkit.testsite import RelyingParty, call, open_page
from sceau.store.sites import TrustedSites
from sceau_rp import AuthTokenValidator
from tests.e2e.helpers import chromium, make_bridge


@pytest.fixture(scope="module")
def dev_bridge(e2e_root: Path, softhsm_module: str, softhsm_conf: Path) -> Iterator[Bridge]:
    b = make_bridge(e2e_root / "dev", softhsm_module, softhsm_conf, max_message_bytes=2 << 20, dev_mode=True)
    proc = b.start_agent()
    yield b
    for pid in {proc.pid, b.agent_pid()}:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    proc.wait(10)


@pytest.fixture(scope="module")
def dev_browser(playwright_instance: Any, dev_bridge: Bridge, e2e_root: Path) -> Iterator[Any]:
    context = chromium(playwright_instance, e2e_root / "dev-profile", dev_bridge.env)
    yield context
    context.close()


def test_http_localhost_works_in_dev_mode(dev_browser: Any, dev_bridge: Bridge, rp: RelyingParty, pki: DevPki) -> None:
    origin = rp.http_origin()
    TrustedSites(dev_bridge.config.data_path()).grant(origin, ["authenticate"])
    page = open_page(dev_browser, origin + "/")
    info = page.evaluate("Sceau.detect()")
    assert info["agent"] is True and info["devMode"] is True, info
    listed = call(page, "Sceau.listCertificates({role: 'auth'})")
    assert listed["ok"], listed
    wanted = pki.cert("auth-rsa2048").public_bytes(Encoding.DER)
    (handle,) = [c["id"] for c in listed["result"] if base64.b64decode(c["certificate"]) == wanted]
    nonce = rp.nonces.issue()
    token = call(page, f"Sceau.authenticate('{nonce}', {{certificate: '{handle}'}})")
    assert token["ok"], token
    anchors = [x509.load_pem_x509_certificate(Path(pki.root_ca).read_bytes())]
    inter = [x509.load_pem_x509_certificate(Path(pki.intermediate_ca).read_bytes())]
    validator = AuthTokenValidator(origin, anchors, intermediates=inter, nonces=rp.nonces, allow_http_localhost=True)
    validator.validate(token["result"], nonce)
