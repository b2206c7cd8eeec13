"""What a handler gets: the browser-given origin, the connection it came on, the user interface, the
tokens, the stores and the configuration — typed, one field each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sceau.config import Config, Limits
from sceau.errors import Timeout, UserCancelled
from sceau.formats.worker import WorkerPool, shared_pool
from sceau.i18n import _
from sceau.protocol.codes import OperationKind, Role
from sceau.protocol.documents import DocumentInfo
from sceau.protocol.session import Emitter, Session
from sceau.store.journal import Journal
from sceau.store.remembered import RememberedAuth
from sceau.store.sites import TrustedSites
from sceau.store.transfers import TransferStore
from sceau.tokens.base import CertificateEntry, PinPrompt, Token
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.registry import TokenManager
from sceau.ui.api import (
    CertificateChoice,
    ConsentDecision,
    ConsentRequest,
    SaveRequest,
    UserInterface,
    pinpad_aware,
)

T = TypeVar("T")


async def _no_emit(_event: dict[str, Any]) -> None:
    return None


@dataclass(eq=False)
class Connection:
    """What the handlers keep for one client connection: its session and its transfers."""

    session: Session = field(default_factory=Session)
    _transfers: TransferStore | None = field(default=None, repr=False)

    def transfers(self, limits: Limits) -> TransferStore:
        """The connection's transfer store (uploads, downloads), created on first use."""
        if self._transfers is None:
            self._transfers = TransferStore(limits)
        return self._transfers

    def close(self) -> None:
        """The client went away: delete its transfers (uploaded bids, pending plaintext) at once."""
        if self._transfers is not None:
            self._transfers.close()
            self._transfers = None


@dataclass
class OperationContext:
    origin: str  # given by the browser through the extension (or the WebSocket Origin header)
    ui: UserInterface
    tokens: TokenManager
    config: Config
    executor: TokenExecutor
    emit: Emitter = _no_emit  # streams partial results (batch items as they complete)
    connection: Connection = field(default_factory=Connection)
    sites: TrustedSites | None = None  # None: no per-site gating (CLI, tests)
    remembered: RememberedAuth | None = None
    journal: Journal | None = None
    commands: Sequence[str] = ()  # the commands this agent serves (hello)
    shown: ConsentRequest | None = None  # what the consent dialog showed, for the journal
    parsers: WorkerPool | None = None  # bounded worker processes for untrusted files (None: the shared one)

    def parse_pool(self) -> WorkerPool:
        """Where PDF / XML / CMS / zip parsing runs: never on the event loop (DESIGN.md §4.9)."""
        return self.parsers or shared_pool()

    def transfers(self) -> TransferStore:
        return self.connection.transfers(self.config.limits)

    async def blocking(self, fn: Callable[[], T], token: Token | None = None) -> T:
        """Run a blocking call in the executor (serialised per token; a PKCS#11 token's calls run on its
        module's own thread, with a time limit, so a stuck middleware cannot block the others)."""
        if token is None:
            return await self.executor.run(None, fn)
        module = token.info.module if token.info.backend == "pkcs11" else None
        return await self.executor.run(token.info.token_id, fn, module=module)

    async def ui_call(self, fn: Callable[[], T]) -> T:
        """Run a (blocking) dialog call off the event loop; dialogs marshal to their own thread."""
        return await self.executor.run(None, fn)

    def pin_prompt(self) -> PinPrompt:
        return pinpad_aware(self.ui)

    def may_reuse_pin(self, documents: int) -> bool:
        """A card that asks the PIN for each signature (CKA_ALWAYS_AUTHENTICATE): ask the user, once per
        batch, whether Sceau may reuse the PIN typed for this batch only. Batches above
        `pin_reuse_max_documents` never reuse it (the PIN is typed for each signature)."""
        if documents > self.config.pin_reuse_max_documents:
            return False
        if documents <= 1:
            return True  # one signature: the card's second request is for that same signature
        detail = _(
            "Your card asks for the PIN for each signature. Sceau may reuse the PIN you typed for the "
            "{n} documents of this batch only, then erase it. Refuse to type it for each document."
        ).format(n=documents)
        request = ConsentRequest(self.origin, OperationKind.SIGN, detail=detail)
        try:
            return self.ui.confirm(request).approved
        except (UserCancelled, Timeout):
            return False

    async def select_certificate(self, role: Role, handle: str | None, operation: OperationKind) -> CertificateEntry:
        """The certificate the page asked for, or the user's pick among those fitting `role`."""
        entries = self.tokens.cached_entries(role, handle)  # listed already: no thread hop
        if not entries:
            entries = await self.blocking(lambda: self.tokens.require_entries(role, handle, self.pin_prompt()))
        if len(entries) == 1:
            return entries[0]
        return await self.choose_certificate(operation, entries)

    async def choose_certificate(
        self, operation: OperationKind, candidates: Sequence[CertificateEntry]
    ) -> CertificateEntry:
        """Ask the user which of several certificates to use."""
        choice = CertificateChoice(self.origin, operation, tuple(candidates))
        return await self.ui_call(lambda: self.ui.choose_certificate(choice))

    async def consent(
        self,
        operation: OperationKind,
        *,
        documents: Sequence[DocumentInfo] = (),
        certificate: CertificateEntry | None = None,
        detail: str = "",
        parameters: Sequence[str] = (),
        names_from_page: bool = False,
    ) -> None:
        """Ask the user; raise USER_CANCELLED when refused."""
        decision = await self.confirm(
            operation,
            documents=documents,
            certificate=certificate,
            detail=detail,
            parameters=parameters,
            names_from_page=names_from_page,
        )
        if not decision.approved:
            raise UserCancelled(_("The operation was refused."))

    async def confirm(
        self,
        operation: OperationKind,
        *,
        documents: Sequence[DocumentInfo] = (),
        certificate: CertificateEntry | None = None,
        detail: str = "",
        can_remember: bool = False,
        parameters: Sequence[str] = (),
        names_from_page: bool = False,
    ) -> ConsentDecision:
        """Show the consent dialog naming the site, the operation, the documents and the certificate;
        what it showed is kept so the journal records the operation with them."""
        request = ConsentRequest(
            self.origin, operation, documents, certificate, detail, can_remember, parameters, names_from_page
        )
        self.shown = request
        if self.ui.answers_at_once:  # headless approval: no dialog to wait for, so no thread hop
            return self.ui.confirm(request)
        return await self.ui_call(lambda: self.ui.confirm(request))

    async def ask_save_path(self, suggested_name: str, size: int) -> Path:
        """Ask the user where to write a result the page must not receive (native save dialog)."""
        request = SaveRequest(self.origin, suggested_name, size)
        return Path(await self.ui_call(lambda: self.ui.ask_save_path(request)))
