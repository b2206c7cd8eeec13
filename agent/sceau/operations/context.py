"""What a handler gets: the browser-given origin, the user interface, the tokens, the config."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sceau.config import Config
from sceau.errors import UserCancelled
from sceau.i18n import _
from sceau.protocol.codes import OperationKind, Role
from sceau.tokens.base import CertificateEntry, PinPrompt, Token
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.registry import TokenManager
from sceau.ui.api import CertificateChoice, ConsentDecision, ConsentRequest, UserInterface

T = TypeVar("T")

# Handlers may stream partial results (batch items as they complete); the transport sends them.
Emitter = Callable[[dict[str, Any]], Awaitable[None]]


async def _no_emit(_event: dict[str, Any]) -> None:
    return None


@dataclass
class OperationContext:
    origin: str  # given by the browser through the extension (or the WebSocket Origin header)
    ui: UserInterface
    tokens: TokenManager
    config: Config
    executor: TokenExecutor
    emit: Emitter = _no_emit
    journal: Any = None  # sceau.store.journal.Journal when the agent has one
    extras: dict[str, Any] = field(default_factory=dict)  # per-connection state (transfers...)

    async def blocking(self, fn: Callable[[], T], token: Token | None = None) -> T:
        """Run a blocking call in the executor (serialised per token)."""
        return await self.executor.run(token.info.token_id if token else None, fn)

    async def ui_call(self, fn: Callable[[], T]) -> T:
        """Run a (blocking) dialog call off the event loop; dialogs marshal to their own thread."""
        return await self.executor.run(None, fn)

    def pin_prompt(self) -> PinPrompt:
        return self.ui.ask_pin

    async def select_certificate(self, role: Role, handle: str | None, operation: OperationKind) -> CertificateEntry:
        """The certificate the page asked for, or the user's pick among those fitting `role`."""
        entries = await self.blocking(lambda: self.tokens.require_entries(role, handle, self.ui.ask_pin))
        if len(entries) == 1:
            return entries[0]
        return await self.ui_call(
            lambda: self.ui.choose_certificate(CertificateChoice(self.origin, operation, tuple(entries)))
        )

    async def consent(self, request: ConsentRequest) -> None:
        """Ask the user; raise USER_CANCELLED when refused. The request is kept for the journal."""
        decision = await self.confirm(request)
        if not decision.approved:
            raise UserCancelled(_("The operation was refused."))

    async def confirm(self, request: ConsentRequest) -> ConsentDecision:
        """Show the consent dialog and remember what it showed (documents, certificate) so the
        journal records the operation with them."""
        self.extras["consent"] = request
        return await self.ui_call(lambda: self.ui.confirm(request))
