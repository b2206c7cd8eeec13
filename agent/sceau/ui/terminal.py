"""Interactive terminal `UserInterface` for the CLI when no graphical display is available.

Same sentences as the dialogs (`presenter`). The PIN is read without echo (getpass); a wrong PIN
is asked again with "PIN incorrect"; end of input or Ctrl-C cancels. Streams and the secret reader
are passed in, so tests drive it without a terminal.
"""

from __future__ import annotations

import getpass
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from sceau.errors import PinLocked, UserCancelled
from sceau.i18n import _
from sceau.tokens.base import CertificateEntry, PinRequest
from sceau.ui import presenter
from sceau.ui.api import CertificateChoice, ConsentDecision, ConsentRequest, SaveRequest, UserInterface

_YES = frozenset({"o", "oui", "y", "yes"})


def _getpass_reader(prompt: str, stream: TextIO) -> str:
    return getpass.getpass(prompt, stream=stream)


class TerminalUI(UserInterface):
    """Questions on a terminal; one question at a time even when called from several threads."""

    def __init__(
        self,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        read_secret: Callable[[str, TextIO], str] | None = None,
    ) -> None:
        self._in = stdin or sys.stdin
        self._out = stdout or sys.stderr  # questions on stderr: stdout may carry the CLI's output
        self._read_secret = read_secret or _getpass_reader
        self._lock = threading.Lock()

    # -- helpers -------------------------------------------------------------------------------

    def _say(self, *lines: str) -> None:
        for line in lines:
            self._out.write(line + "\n")
        self._out.flush()

    def _ask(self, prompt: str) -> str:
        self._out.write(prompt)
        self._out.flush()
        try:
            line = self._in.readline()
        except KeyboardInterrupt:
            raise UserCancelled(_("Cancelled.")) from None
        if not line:  # end of input
            raise UserCancelled(_("Cancelled."))
        return line.strip()

    def _yes_no(self, prompt: str) -> bool:
        return self._ask(prompt + " " + _("[y/N] ")).lower() in _YES

    # -- UserInterface -------------------------------------------------------------------------

    def confirm(self, request: ConsentRequest) -> ConsentDecision:
        text = presenter.consent_text(request)
        with self._lock:
            self._say("", f"== {text.title} ==", f"{text.site.domain}  ({text.site.origin})", text.asks)
            self._say(f"  {text.operation}")
            if text.documents:
                self._say(_("Documents") + (f" ({text.names_note})" if text.names_note else ""))
                self._say(*(f"  - {name} ({meta})" for name, meta in text.documents))
                if text.more_documents:
                    self._say(f"  {text.more_documents}")
            if text.parameters:
                self._say(_("Signature parameters (from the site)"), *(f"  {line}" for line in text.parameters))
            if text.certificate:
                self._say(_("Certificate"), *(f"  {line}" for line in text.certificate))
            if text.detail:
                self._say(text.detail)
            if not self._yes_no(_("Allow?")):
                raise UserCancelled(_("The operation was refused."))
            remember = bool(text.remember) and self._yes_no(text.remember + " ?")
            return ConsentDecision(approved=True, remember=remember)

    def ask_pin(self, request: PinRequest) -> str:
        if request.pinpad:
            from sceau.ui.api import pinpad_notice

            self.notify(pinpad_notice(request))
            return ""
        text = presenter.pin_text(request)
        with self._lock:
            self._say("", text.token)
            if text.locked:
                self._say(text.locked)
                raise PinLocked(text.locked)
            if text.error:
                self._say(text.error)
            if text.warning:
                self._say(text.warning)
            try:
                secret = self._read_secret(text.prompt + " ", self._out)
            except (EOFError, KeyboardInterrupt):
                raise UserCancelled(_("PIN entry cancelled.")) from None
            if not secret:
                raise UserCancelled(_("PIN entry cancelled."))
            return secret

    def choose_certificate(self, choice: CertificateChoice) -> CertificateEntry:
        candidates = list(choice.candidates)
        if len(candidates) == 1:
            return candidates[0]
        site = presenter.site_text(choice.origin)
        with self._lock:
            self._say("", f"{site.domain}  ({site.origin})", _("Several certificates fit. Choose the one to use:"))
            for i, entry in enumerate(candidates, 1):
                holder, issuer, expiry, token = presenter.candidate_columns(entry)
                self._say(f"  {i}. {holder} — {issuer} — {expiry} — {token}")
            for _attempt in range(3):
                answer = self._ask(_("Number (empty to cancel): "))
                if not answer:
                    break
                if answer.isdigit() and 1 <= int(answer) <= len(candidates):
                    return candidates[int(answer) - 1]
                self._say(_("Please type a number between 1 and {n}.").format(n=len(candidates)))
            raise UserCancelled(_("No certificate was chosen."))

    def ask_save_path(self, request: SaveRequest) -> Path:
        site = presenter.site_text(request.origin)
        with self._lock:
            self._say("", f"{site.domain}  ({site.origin})")
            answer = self._ask(
                _("Save the decrypted file as (empty to cancel) [{name}]: ").format(name=request.suggested_name)
            )
        if not answer:
            raise UserCancelled(_("No file was chosen."))
        return Path(answer).expanduser()

    def notify(self, message: str) -> None:
        self._say(message)
