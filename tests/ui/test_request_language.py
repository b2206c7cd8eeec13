"""A page's `lang` (Web eID `options.lang`) selects the language of that request's dialogs only."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from sceau.app import Agent
from sceau.config import Config
from sceau.devkit import pki as devpki
from sceau.devkit.pki import DevPki
from sceau.i18n import current_language, language
from sceau.protocol.codes import OperationKind
from sceau.tokens.base import PinRequest
from sceau.tokens.pkcs12 import Pkcs12Backend
from sceau.tokens.registry import TokenManager
from sceau.ui import presenter
from sceau.ui.api import ConsentDecision, ConsentRequest
from sceau.ui.headless import HeadlessUI

NONCE = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU="


class Reading(HeadlessUI):
    """Approves, and keeps the texts the real dialogs would show (computed where they would be)."""

    def __init__(self) -> None:
        super().__init__(approve=True)
        self.titles: list[str] = []
        self.prompts: list[str] = []

    def confirm(self, request: ConsentRequest) -> ConsentDecision:
        self.titles.append(presenter.consent_text(request).title)
        return super().confirm(request)

    def ask_pin(self, request: PinRequest) -> str:
        self.prompts.append(presenter.pin_text(request).prompt)
        return devpki.P12_PASSWORD


@pytest.fixture
def agent(pki: DevPki) -> Any:
    ui = Reading()
    files = [Path(pki["auth-ec256"].p12)]
    a = Agent(Config(), TokenManager([Pkcs12Backend(files)]), ui)
    yield a, ui
    a.close()


async def authenticate(a: Agent, rid: str, **args: Any) -> dict[str, Any]:
    msg = {"v": 1, "id": rid, "cmd": "authenticate", "origin": "https://marches.example.fr",
           "args": {"nonce": NONCE, **args}}  # fmt: skip
    return await a.handle(msg)


async def test_lang_selects_the_dialog_language_of_that_request(agent: Any) -> None:
    a, ui = agent
    assert (await authenticate(a, "en", lang="en"))["ok"]
    assert (await authenticate(a, "fr", lang="fr"))["ok"]
    assert (await authenticate(a, "xx", lang="xx"))["ok"]  # unknown: the user's language
    assert ui.titles[:2] == ["Sceau — authorisation request", "Sceau — demande d'autorisation"]
    assert ui.prompts == ["Password of the certificate file:"]  # asked once, in the first request's language
    # An unknown language: the user's own, as computed here (no request language).
    assert ui.titles[2] == presenter.consent_text(ConsentRequest("https://a.fr", OperationKind.AUTHENTICATE)).title


def test_language_context_restores_the_thread() -> None:
    seen: list[str] = []

    def worker() -> None:
        before = current_language()
        with language("en"):
            seen.append(current_language())
            with language("fr"):
                seen.append(current_language())
            seen.append(current_language())
        seen.append(current_language() == before and "restored")

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == ["en", "fr", "en", "restored"]
