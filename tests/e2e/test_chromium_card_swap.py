"""A page subscribed to card events sees a card's certificates appear and go without an agent restart.

Real chain: vicc → vpcd → pcscd → agent (PC/SC monitor, the card's module loaded for its ATR at run
time) → native host → extension → page. The card's module is the pinlimit pass-through in front of a
second SoftHSM2 token directory, present only while PC/SC reports the card (tests/tokens/runtime_stack).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from sceau.devkit import softhsm
from sceau.devkit.testsite import RelyingParty, call, open_page, result, start
from tests.e2e.helpers import answer_prompt, chromium, make_bridge
from tests.e2e.test_chromium_bridge import verify_prehashed
from tests.tokens import runtime_stack, virtual_card
from tests.tokens.runtime_stack import CARD_LABEL, VICC_ATR


def _tokens(page: Any) -> dict[str, list[dict[str, Any]]]:
    listed = call(page, "Sceau.listCertificates({role: 'sign'})")
    assert listed["ok"], listed
    out: dict[str, list[dict[str, Any]]] = {}
    for cert in listed["result"]:
        out.setdefault(cert["token"], []).append(cert)
    return out


@pytest.mark.slow
def test_card_inserted_then_removed_updates_the_page_without_restart(
    tmp_path: Path,
    softhsm_module: str,
    softhsm_conf: Path,
    pinlimit_module: Path,
    rp: RelyingParty,
    playwright_instance: Any,
) -> None:
    (tmp_path / "pcscd").mkdir()
    pcscd, port = virtual_card.start_pcscd(tmp_path / "pcscd")
    # The headless agent types the suite's PIN: the card uses the same one.
    card = runtime_stack.make_card_token(tmp_path / "carte-b", softhsm_module, pin=softhsm.USER_PIN)
    card_module = runtime_stack.module_instance(
        tmp_path / "modules", "carte", pinlimit_module, softhsm_module, card.conf, PINLIMIT_READER="Virtual PCD"
    )
    bridge = make_bridge(tmp_path / "bridge", softhsm_module, softhsm_conf, max_message_bytes=2 * 1024 * 1024)
    config = bridge.root / "cfg" / "sceau" / "config.toml"
    config.write_text(f'atr_modules = ["{VICC_ATR}={card_module}"]\n' + config.read_text(encoding="utf-8"))
    agent = bridge.start_agent()
    context = None
    vicc = None
    try:
        context = chromium(playwright_instance, tmp_path / "profile", bridge.env)
        page = open_page(context, rp.origin(0) + "/")
        page.evaluate("window.notes = []")
        assert call(page, "Sceau.subscribe((n) => window.notes.push(n))")["ok"]
        answer_prompt(context, lambda: start(page, "Sceau.listCertificates({role: 'sign'})"), allow=True)
        assert result(page)["ok"]
        base = set(_tokens(page))  # the test token, and any other tests added to the shared SoftHSM2 store
        assert softhsm.TOKEN_LABEL in base and CARD_LABEL not in base

        vicc = virtual_card.start_vicc(port)
        page.wait_for_function("window.notes.some((n) => n.type === 'token-inserted')", timeout=30_000)
        page.wait_for_timeout(300)  # the agent lists the new token right after the event
        tokens = _tokens(page)
        assert set(tokens) == base | {CARD_LABEL}, tokens
        [on_card] = tokens[CARD_LABEL]
        assert base64.b64decode(on_card["certificate"]) == card.cert_der
        assert x509.load_der_x509_certificate(card.cert_der).subject.rfc4514_string() == on_card["subject"]
        digest = hashlib.sha256(b"offre sur la carte B").digest()
        b64 = json.dumps(base64.b64encode(digest).decode())
        signed = call(
            page, f"Sceau.signHash({{hash: {b64}, documentName: 'offre.pdf', certificate: '{on_card['id']}'}})"
        )
        assert signed["ok"], signed
        verify_prehashed(signed["result"]["certificate"], signed["result"]["signature"], digest)

        virtual_card.stop(vicc)
        vicc = None
        page.wait_for_function("window.notes.some((n) => n.type === 'token-removed')", timeout=30_000)
        page.wait_for_timeout(300)
        assert set(_tokens(page)) == base
        assert [n["type"] for n in page.evaluate("window.notes")] == ["token-inserted", "token-removed"]
    finally:
        if vicc is not None:
            virtual_card.stop(vicc)
        if context is not None:
            context.close()
        if agent is not None:
            agent.terminate()
            agent.wait(10)
        virtual_card.stop(pcscd)
