"""What the agent asks the user. Dialogs, the terminal and tests implement `UserInterface`.

Backends never prompt; operations call these methods (from a worker thread: implementations
that need a GUI thread marshal the call themselves).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sceau.errors import Unsupported
from sceau.i18n import _
from sceau.protocol.codes import OperationKind
from sceau.protocol.documents import DocumentInfo
from sceau.tokens.base import CertificateEntry, PinRequest


@dataclass(frozen=True)
class ConsentRequest:
    """Everything a consent dialog names: site, operation, documents, certificate."""

    origin: str
    operation: OperationKind
    documents: Sequence[DocumentInfo] = ()
    certificate: CertificateEntry | None = None
    detail: str = ""  # extra plain-language text, e.g. the unwrap-key warning
    can_remember: bool = False  # only authentication may be remembered per site
    # What else the request changes (format, level, stamp text, reason, PES role...), as lines to show.
    parameters: Sequence[str] = ()
    names_from_page: bool = False  # the document names were supplied by the page, not read from files


@dataclass(frozen=True)
class ConsentDecision:
    approved: bool
    remember: bool = False


@dataclass(frozen=True)
class SaveRequest:
    """Where to write a result the page must not receive (decrypt-to-file): a native save dialog."""

    origin: str
    suggested_name: str
    size: int  # bytes about to be written (for the dialog's text and the disk-space check)


@dataclass(frozen=True)
class CertificateChoice:
    """A certificate picker request."""

    origin: str
    operation: OperationKind
    candidates: Sequence[CertificateEntry] = field(default_factory=tuple)


class UserInterface(ABC):
    """Consent, PIN and certificate choice. Implementations raise UserCancelled / Timeout."""

    # True when `confirm` answers from configuration, waiting for nobody (headless `--yes`): the agent
    # then calls it on the event loop instead of handing it to a worker thread.
    answers_at_once: bool = False

    @abstractmethod
    def confirm(self, request: ConsentRequest) -> ConsentDecision:
        """Ask the user to approve one key use (or a batch)."""

    @abstractmethod
    def ask_pin(self, request: PinRequest) -> str:
        """Ask for the PIN (or PKCS#12 password). Raise UserCancelled to give up."""

    @abstractmethod
    def choose_certificate(self, choice: CertificateChoice) -> CertificateEntry:
        """Pick one of several fitting certificates."""

    def ask_save_path(self, request: SaveRequest) -> Path:
        """Let the user pick the output file (native save dialog). Raise UserCancelled to give up."""
        raise Unsupported(_("This interface cannot ask where to save a file."))

    def notify(self, message: str) -> None:  # noqa: B027 - optional hook
        """Non-blocking information for the user (tray balloon); optional."""


def pinpad_notice(request: PinRequest) -> str:
    """What the user is told when the PIN is typed on the reader (no PIN dialog)."""
    from sceau.i18n import _

    return _("Enter the PIN on the reader ({name}).").format(name=request.token.label)


def pinpad_aware(ui: UserInterface) -> Callable[[PinRequest], str]:
    """`ui.ask_pin`, except for a PIN-pad reader: then a notice instead of the dialog, and the
    empty PIN that tells the token to read it from its reader (CKF_PROTECTED_AUTHENTICATION_PATH)."""

    def prompt(request: PinRequest) -> str:
        if request.pinpad:
            ui.notify(pinpad_notice(request))
            return ""
        return ui.ask_pin(request)

    return prompt
