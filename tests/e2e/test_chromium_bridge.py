"""End-to-end: page → sceau.js → content script → background → native host → agent → SoftHSM2."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from conftest import Bridge, answer_prompt, call, open_page, result, start
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, utils
from e2e_rp_server import RelyingParty

from sceau import devpki
from sceau.devpki import DevPki
from sceau.relying_party import AuthTokenValidator


def validator(pki: DevPki, origin: str, rp: RelyingParty) -> AuthTokenValidator:
    return AuthTokenValidator(
        origin, [pki.cert_obj_root()] if hasattr(pki, "cert_obj_root") else [_pem(pki.root_ca)],
        intermediates=[_pem(pki.intermediate_ca)], nonces=rp.nonces,
    )


def _pem(path: Any) -> x509.Certificate:
    return x509.load_pem_x509_certificate(open(path, "rb").read())


def test_detect_list_authenticate(browser: Any, bridge: Bridge, rp: RelyingParty, pki: DevPki) -> None:
    origin = rp.origin(0)
    page = open_page(browser, origin + "/")
    info = page.evaluate("Sceau.detect()")
    assert info["extension"] is True and info["agent"] is True, info
    assert info["protocol"] == 1

    text = answer_prompt(
        browser,
        lambda: start(page, "Sceau.listCertificates({role: 'auth'})"),
        allow=True,
        expect_text="veut utiliser votre certificat pour : authentification",
    )
    assert f"localhost:{rp.ports[0]}" in text
    listed = result(page)
    assert listed["ok"], listed
    ders = {base64.b64decode(c["certificate"]) for c in listed["result"]}
    wanted = pki.cert("auth-rsa2048")
    assert wanted.public_bytes(x509.base.serialization.Encoding.DER) in ders
    handle = next(
        c["id"] for c in listed["result"]
        if base64.b64decode(c["certificate"]) == wanted.public_bytes(x509.base.serialization.Encoding.DER)
    )

    nonce = page.evaluate("fetch('/nonce').then(r => r.json()).then(j => j.nonce)")
    token = call(page, f"Sceau.authenticate({json.dumps(nonce)}, {{certificate: {json.dumps(handle)}}})")
    assert token["ok"], token
    user = validator(pki, origin, rp).validate(token["result"], nonce)
    assert user.certificate == wanted
