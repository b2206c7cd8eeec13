"""A request's own dialog language: the page may ask for one (Web eID's `options.lang`, the `lang`
argument of any command), shown only in that request's consent, PIN and certificate dialogs.

The dialogs' texts are computed in the thread that calls the UI (`sceau.ui.dialogs` builds them
before handing the window to the GUI thread), so a thread-local language around each call is enough.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sceau.i18n import SUPPORTED, language
from sceau.tokens.base import CertificateEntry, PinRequest
from sceau.ui.api import CertificateChoice, ConsentDecision, ConsentRequest, UserInterface


def requested_language(args: Mapping[str, Any]) -> str | None:
    """The `lang` argument when it names a language we have ("fr", "en"), else None."""
    value = args.get("lang")
    return value if isinstance(value, str) and value in SUPPORTED else None


class InLanguage(UserInterface):
    """`ui`, with every dialog of this request in `lang`."""

    def __init__(self, ui: UserInterface, lang: str) -> None:
        self.ui = ui
        self.lang = lang
        self.answers_at_once = ui.answers_at_once

    def confirm(self, request: ConsentRequest) -> ConsentDecision:
        with language(self.lang):
            return self.ui.confirm(request)

    def ask_pin(self, request: PinRequest) -> str:
        with language(self.lang):
            return self.ui.ask_pin(request)

    def choose_certificate(self, choice: CertificateChoice) -> CertificateEntry:
        with language(self.lang):
            return self.ui.choose_certificate(choice)

    def notify(self, message: str) -> None:
        self.ui.notify(message)

    def __getattr__(self, name: str) -> Any:  # what a particular UI adds (consents recorded by tests…)
        return getattr(self.ui, name)


def for_request(ui: UserInterface, args: Mapping[str, Any]) -> UserInterface:
    lang = requested_language(args)
    return InLanguage(ui, lang) if lang else ui
