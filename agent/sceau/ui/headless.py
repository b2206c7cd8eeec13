"""Non-interactive user interface for the CLI, servers and tests.

The PIN comes from an environment variable *named on the command line*; there is never a
default PIN. Approval is a flag. A wrong PIN is not retried (retrying the same PIN would
only burn the token's tries): it raises WrongPin with what the token says about tries left.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sceau.errors import UserCancelled, WrongPin
from sceau.i18n import _
from sceau.tokens.base import CertificateEntry, PinRequest
from sceau.ui.api import CertificateChoice, ConsentDecision, ConsentRequest, SaveRequest, UserInterface

# The save "dialog" of a headless agent (tests, servers): files go into this directory.
SAVE_DIR_ENV = "SCEAU_HEADLESS_SAVE_DIR"


def wrong_pin_error(request: PinRequest) -> WrongPin:
    """The WrongPin error for a refused PIN, with what the token says about remaining tries."""
    status = request.status
    if status.retries_left is not None:
        msg = _("Wrong PIN: {n} tries left.").format(n=status.retries_left)
    elif status.final_try:
        msg = _("Wrong PIN: one try left before the PIN is locked.")
    elif status.count_low:
        msg = _("Wrong PIN: few tries left before the PIN is locked.")
    else:
        msg = _("Wrong PIN.")
    if request.is_password:
        msg = _("Wrong password for {name}.").format(name=request.token.label)
    return WrongPin(msg, final_try=status.final_try, count_low=status.count_low)


class HeadlessUI(UserInterface):
    """Answers from configuration: a PIN source and an approval flag."""

    answers_at_once = True

    def __init__(
        self,
        *,
        pin: str | None = None,
        pin_env: str | None = None,
        approve: bool = False,
        chooser: Callable[[CertificateChoice], CertificateEntry] | None = None,
        save_as: Callable[[SaveRequest], Path] | None = None,
    ) -> None:
        self._pin = pin
        self._pin_env = pin_env
        self._approve = approve
        self._chooser = chooser
        self._save_as = save_as
        self.save_requests: list[SaveRequest] = []
        self.consents: list[ConsentRequest] = []  # what was asked, for tests and the journal
        self.pin_requests: list[PinRequest] = []

    def confirm(self, request: ConsentRequest) -> ConsentDecision:
        self.consents.append(request)
        if not self._approve:
            raise UserCancelled(_("Operation refused: approval was not given (use --yes)."))
        return ConsentDecision(approved=True)

    def ask_pin(self, request: PinRequest) -> str:
        self.pin_requests.append(request)
        if request.pinpad:
            return ""  # typed on the reader
        if request.retry:
            raise wrong_pin_error(request)
        pin = self._pin
        if pin is None and self._pin_env:
            pin = os.environ.get(self._pin_env)
        if not pin:
            what = _("password") if request.is_password else _("PIN")
            raise UserCancelled(
                _("No {what} given for {name}: set the environment variable named by --pin-env.").format(
                    what=what, name=request.token.label
                )
            )
        return pin

    def choose_certificate(self, choice: CertificateChoice) -> CertificateEntry:
        if self._chooser is not None:
            return self._chooser(choice)
        if len(choice.candidates) == 1:
            return choice.candidates[0]
        # Deterministic and explainable: the valid certificate expiring last.
        return sorted(
            choice.candidates,
            key=lambda e: (e.is_valid_at(), e.certificate.not_valid_after_utc),
        )[-1]

    def ask_save_path(self, request: SaveRequest) -> Path:
        """`save_as(request)` when given, else the suggested name in $SCEAU_HEADLESS_SAVE_DIR."""
        self.save_requests.append(request)
        if self._save_as is not None:
            return self._save_as(request)
        folder = os.environ.get(SAVE_DIR_ENV)
        if not folder:
            raise UserCancelled(_("No folder to save into: set {env}.").format(env=SAVE_DIR_ENV))
        return Path(folder) / request.suggested_name
