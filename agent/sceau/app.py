"""The agent: wires config, tokens, UI, trusted sites and the handler registry; transports call `handle`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sceau.config import Config
from sceau.errors import BadRequest, InvalidInput, OriginNotAllowed, SceauError, Timeout
from sceau.formats.worker import TOO_DEEP, Budget, WorkerPool
from sceau.i18n import _
from sceau.operations.base import Operation
from sceau.operations.context import Connection, OperationContext
from sceau.operations.registry import Registry, default_registry
from sceau.protocol import messages
from sceau.protocol.codes import PAGE_COMMANDS, Command, OperationKind
from sceau.protocol.framing import decode_json
from sceau.protocol.origin import normalize_origin
from sceau.protocol.session import Channel, Emitter, Session
from sceau.store.journal import RESULT_OK, Journal
from sceau.store.journal_writer import BackgroundJournal
from sceau.store.remembered import RememberedAuth
from sceau.store.sites import TrustedSites
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.registry import TokenManager
from sceau.ui.api import ConsentRequest, UserInterface
from sceau.ui.language import for_request

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], Awaitable[None]]


class Agent:
    """Protocol entry point shared by every transport (IPC, WebSocket, tests)."""

    def __init__(
        self,
        config: Config,
        tokens: TokenManager,
        ui: UserInterface,
        *,
        sites: TrustedSites | None = None,  # None: no per-site gating (CLI, tests)
        journal: Journal | None = None,
        registry: Registry | None = None,
        remembered: RememberedAuth | None = None,
    ) -> None:
        self.config = config
        self.tokens = tokens
        self.ui = ui
        self.sites = sites
        self.journal = journal
        self.registry = registry or default_registry()
        self._commands = tuple(self.registry.commands())  # for `hello`; the registry is fixed from here
        self.executor = TokenExecutor()
        # Untrusted files are parsed in these worker processes, never on the event loop.
        self.parsers = WorkerPool(config.parse_workers, Budget(timeout_s=config.parse_timeout_s))
        self._listeners: set[Listener] = set()
        # (origin, certificate fingerprint) pairs the user chose to remember for authentication.
        self.remembered = remembered or RememberedAuth()
        # Handler state per (connection, origin): the extension multiplexes every site on one
        # connection, and a transfer must be usable only by the origin that created it.
        self._connections: dict[tuple[Session, str], Connection] = {}
        self._default_session = Session()  # callers without a connection of their own (demo, tests)

    # -- notifications (token inserted/removed) -------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        self._listeners.add(listener)

    async def broadcast(self, payload: dict[str, Any]) -> None:
        note = messages.notification(payload)
        for listener in list(self._listeners):
            try:
                await listener(note)
            except Exception:  # a dead client must not stop the others
                self._listeners.discard(listener)

    # -- connections ---------------------------------------------------------------------------
    def connection(self, session: Session, origin: str = "") -> Connection:
        """The handlers' state for one origin on a client connection (created on its first request)."""
        conn = self._connections.get((session, origin))
        if conn is None:
            conn = self._connections[(session, origin)] = Connection(session)
        return conn

    @property
    def open_sessions(self) -> tuple[Session, ...]:
        """The connections the agent holds state for."""
        return tuple(dict.fromkeys(session for session, _origin in self._connections))

    def connection_closed(self, session: Session) -> None:
        """A client went away: drop its transfers (uploaded bids, pending plaintext) at once."""
        for key in [k for k in self._connections if k[0] is session]:
            self._connections.pop(key).close()

    # -- requests ------------------------------------------------------------------------------
    async def handle(
        self,
        message: bytes | dict[str, Any],
        *,
        session: Session | None = None,
        emit: Emitter | None = None,
    ) -> dict[str, Any]:
        """Handle one request; always returns the final response (errors mapped to wire codes)."""
        session = session or self._default_session
        channel = session.channel
        request_id: str | None = None
        started = time.monotonic()
        origin = ""
        cmd = ""
        ctx: OperationContext | None = None
        admitted: str | None = None
        journal_origin = ""
        try:
            obj = decode_json(message) if isinstance(message, bytes | bytearray) else message
            request_id = messages.request_id_of(obj)
            req = messages.parse_request(obj)
            cmd = req.cmd
            op = self.registry.get(req.cmd)
            if channel.page_commands_only and (op.internal or Command(req.cmd) not in PAGE_COMMANDS):
                raise OriginNotAllowed(_("This command is reserved to the browser extension."))
            raw_origin = session.origin if channel.origin_from_transport else req.origin
            origin = (
                normalize_origin(
                    raw_origin or "", dev_mode=self.config.dev_mode, max_length=self.config.limits.max_origin_length
                )
                if not op.internal
                else ""
            )
            session.admit_origin(origin)  # per-origin in-flight cap (BUSY for this site only)
            admitted = origin
            unknown = op.accepts(req.args)
            if unknown is not None:
                raise BadRequest(_("Unknown argument for {cmd}: {name}").format(cmd=cmd, name=unknown[:40]))
            params = op.parse(req.args, self.config.limits)
            if op.internal:  # site-grant / site-revoke: the journal names the site they act on
                journal_origin = str(getattr(params, "origin", "") or "")
            kind = op.permission(req.args)
            if kind is not None:
                await self._check_site(origin, kind, channel)
            ctx = OperationContext(
                origin=origin,
                ui=for_request(self.ui, req.args),  # the page's `lang`, for this request's dialogs only
                tokens=self.tokens,
                config=self.config,
                executor=self.executor,
                emit=_bind_emit(req.id, emit),
                connection=self.connection(session, origin),
                sites=self.sites,
                remembered=self.remembered,
                journal=self.journal,
                commands=self._commands,
                parsers=self.parsers,
            )
            try:
                # In this task (wait_for would wrap the operation in a task of its own: one more
                # event-loop turn per request).
                async with asyncio.timeout(self.config.operation_timeout_s):
                    result = await op.run(ctx, params)
            except TimeoutError:
                raise Timeout(_("The operation took too long and was stopped.")) from None
            self._journal(journal_origin or origin, cmd, RESULT_OK, started, ctx)
            return messages.ok(req.id, result)
        except SceauError as exc:
            self._journal(journal_origin or origin, cmd, exc.code.value, started, ctx)
            return messages.error_from_exception(request_id, exc)
        except RecursionError:  # a pathological structure parsed in-process: the input's fault
            self._journal(journal_origin or origin, cmd, "INVALID_INPUT", started, ctx)
            return messages.error_from_exception(request_id, InvalidInput(_(TOO_DEEP)))
        except Exception as exc:
            log.exception("internal error handling %s", cmd or "message")
            self._journal(journal_origin or origin, cmd, "INTERNAL", started, ctx)
            return messages.error_from_exception(request_id, exc)
        finally:
            if admitted is not None:
                session.release_origin(admitted)

    async def _check_site(self, origin: str, kind: OperationKind, channel: Channel) -> None:
        """First-use permission. The extension asks and records grants (site-grant); on a channel
        with no extension in front (the WebSocket fallback), the agent asks itself."""
        sites = self.sites
        if sites is None:
            return
        if sites.is_allowed(origin, kind):
            return
        if channel.asks_first_use:
            request = ConsentRequest(origin, kind, detail=_("First use of Sceau by this site."))
            decision = await self.executor.run(None, lambda: self.ui.confirm(request))
            if decision.approved:
                sites.grant(origin, [kind])
                return
        raise OriginNotAllowed(_("This site is not allowed to use your certificates."))

    def _journal(self, origin: str, cmd: str, result: str, started: float, ctx: OperationContext | None) -> None:
        """One journal line per operation, with the documents and certificate its consent showed."""
        if self.journal is None or not cmd or cmd in (Command.HELLO, Command.UPLOAD_CHUNK, Command.FETCH_CHUNK):
            return
        shown = ctx.shown if ctx is not None else None
        duration = int((time.monotonic() - started) * 1000)
        try:
            if shown is not None:
                self.journal.record_consent(shown, result, duration_ms=duration)
            else:
                self.journal.record(origin=origin, operation=cmd, result=result, duration_ms=duration)
        except Exception:  # the journal must never break an operation
            log.exception("journal write failed")

    def close(self) -> None:
        self.parsers.close()
        self.executor.shutdown()
        self.tokens.close()
        if isinstance(self.journal, BackgroundJournal):
            self.journal.close()  # the records queued behind the last responses reach the disk


def _bind_emit(request_id: str, emit: Emitter | None) -> Emitter:
    async def send(payload: dict[str, Any]) -> None:
        if emit is not None:
            await emit(messages.event(request_id, payload))

    return send


def build_token_manager(config: Config, pkcs12_files: list[str] | None = None) -> TokenManager:
    """Token backends from the configuration: discovered + configured PKCS#11 modules, PKCS#12 files."""
    from pathlib import Path

    from sceau.tokens.discovery import module_sources
    from sceau.tokens.pkcs11 import Pkcs11Backend
    from sceau.tokens.pkcs12 import Pkcs12Backend

    sources = module_sources(config.pkcs11_modules, discovery=not config.disable_module_discovery)
    files = [Path(p) for p in (*config.pkcs12_files, *(pkcs12_files or []))]
    backend = Pkcs11Backend(
        [m.path for m in sources], ranks={m.path: m.rank for m in sources}, isolate=config.isolate_modules
    )
    return TokenManager([backend, Pkcs12Backend(files)])


def build_agent(config: Config, ui: UserInterface, *, with_sites: bool = True, journal: Journal | None = None) -> Agent:
    """The agent as `sceau agent` runs it (journal in the data dir unless one is given)."""
    if journal is None:
        journal = BackgroundJournal.from_config(config)  # fsync off the event loop, behind the response
    sites = TrustedSites(config.data_path()) if with_sites else None
    remembered = RememberedAuth(config.data_path() / "remembered-auth.json")
    if sites is not None:
        sites.add_listener(lambda: remembered.prune(sites))
    return Agent(config, build_token_manager(config), ui, sites=sites, journal=journal, remembered=remembered)


__all__ = ["Agent", "Operation", "build_agent", "build_token_manager"]
