"""Which origins may open the loopback WebSocket (pages without the extension).

Three sources, in order: the configuration's `websocket_allowed_origins` (IT departments), the sites
the user allowed to connect (the trusted-sites store, operation class `connect`, revocable from the
tray and the extension's options page like any grant), and — for a first connection — the user's
answer in the agent's native dialog ("example.fr veut se connecter à Sceau"). A refusal holds until
the agent restarts, so a page cannot make the dialog come back by reconnecting; at most a few
origins wait for an answer at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sceau.config import Config
from sceau.errors import SceauError
from sceau.i18n import _
from sceau.protocol.codes import OperationKind
from sceau.protocol.origin import normalize_origin
from sceau.store.sites import TrustedSites
from sceau.ui.api import ConsentDecision, ConsentRequest, UserInterface

log = logging.getLogger(__name__)

MAX_PENDING_QUESTIONS = 4  # distinct origins waiting for the user's answer
MAX_REMEMBERED_REFUSALS = 1024

# Runs a blocking call off the event loop (the agent's TokenExecutor.run(None, fn) fits).
BlockingRunner = Callable[[Callable[[], ConsentDecision]], Awaitable[ConsentDecision]]


class ConnectionApprover:
    """Decides, and asks when needed, whether an origin may use the WebSocket fallback."""

    def __init__(
        self, config: Config, sites: TrustedSites | None, ui: UserInterface, run_blocking: BlockingRunner
    ) -> None:
        self.config = config
        self.sites = sites
        self.ui = ui
        self._run = run_blocking
        self._configured = set()
        for item in config.websocket_allowed_origins:
            with contextlib.suppress(SceauError):  # a bad entry in the config allows nothing
                self._configured.add(normalize_origin(item, dev_mode=True))
        self._refused: set[str] = set()
        self._asking: dict[str, asyncio.Future[bool]] = {}

    def allowed(self, origin: str) -> bool:
        """Already allowed: configured, or granted `connect` by the user."""
        if origin in self._configured:
            return True
        return self.sites is not None and self.sites.is_allowed(origin, OperationKind.CONNECT)

    def may_ask(self, origin: str) -> bool:
        """The handshake may proceed to the question (not refused already, not too many waiting)."""
        if self.allowed(origin) or origin in self._asking:
            return True
        if self.sites is None or origin in self._refused:
            return False
        return len(self._asking) < MAX_PENDING_QUESTIONS

    async def approve(self, origin: str) -> bool:
        """True when the origin may be served; asks the user once (concurrent connections share it)."""
        if self.allowed(origin):
            return True
        if not self.may_ask(origin):
            return False
        pending = self._asking.get(origin)
        if pending is not None:
            return await asyncio.shield(pending)
        pending = self._asking[origin] = asyncio.get_running_loop().create_future()
        result = False
        try:
            result = await self._ask(origin)
        finally:
            del self._asking[origin]
            pending.set_result(result)
        return result

    async def _ask(self, origin: str) -> bool:
        detail = _(
            "{site} wants to connect to Sceau. Allow it only if you use this platform: it will then be able "
            "to ask for your certificate (each use is confirmed separately)."
        ).format(site=origin)
        request = ConsentRequest(origin, OperationKind.CONNECT, detail=detail)
        try:
            decision = await self._run(lambda: self.ui.confirm(request))
        except SceauError:  # refused, or no way to ask (headless without --yes)
            decision = ConsentDecision(approved=False)
        if decision.approved and self.sites is not None:
            self.sites.grant(origin, [OperationKind.CONNECT])
            self._refused.discard(origin)
            return True
        if len(self._refused) < MAX_REMEMBERED_REFUSALS:
            self._refused.add(origin)
        log.info("WebSocket connection from %s refused by the user", origin)
        return False
