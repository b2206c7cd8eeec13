"""A page that called `Sceau.subscribe` hears a virtual smart card being inserted and removed.

Real chain: vicc (virtual card) → vpcd → pcscd → agent's PC/SC monitor → native host → extension →
page. The agent gets its own bridge (started after pcscd, so its monitor finds the service).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sceau.devkit.testsite import RelyingParty, call, open_page
from tests.e2e.helpers import chromium, make_bridge
from tests.tokens import virtual_card


@pytest.mark.slow
def test_card_insert_and_remove_reach_subscribed_page(
    tmp_path: Path, softhsm_module: str, softhsm_conf: Path, rp: RelyingParty, playwright_instance: Any
) -> None:
    pcscd, port = virtual_card.start_pcscd(tmp_path)
    bridge = make_bridge(tmp_path / "bridge", softhsm_module, softhsm_conf, max_message_bytes=2 * 1024 * 1024)
    agent = bridge.start_agent()
    context = None
    vicc = None
    try:
        context = chromium(playwright_instance, tmp_path / "profile", bridge.env)
        page = open_page(context, rp.origin(0) + "/")
        page.evaluate("window.notes = []")
        subscribed = call(page, "Sceau.subscribe((n) => window.notes.push(n))")
        assert subscribed["ok"], subscribed
        vicc = virtual_card.start_vicc(port)
        page.wait_for_function("window.notes.some((n) => n.type === 'token-inserted')", timeout=30_000)
        virtual_card.stop(vicc)
        vicc = None
        page.wait_for_function("window.notes.some((n) => n.type === 'token-removed')", timeout=30_000)
        notes = page.evaluate("window.notes")
        assert [n["type"] for n in notes] == ["token-inserted", "token-removed"], notes
        assert all(set(n) == {"type"} for n in notes), "no reader name nor ATR reaches the page"
    finally:
        if vicc is not None:
            virtual_card.stop(vicc)
        if context is not None:
            context.close()
        agent.terminate()
        agent.wait(10)
        virtual_card.stop(pcscd)
