"""Localhost WebSocket fallback (browsers without the extension). Pumps JSON text messages only.

Binds the loopback addresses only (127.0.0.1 and ::1). Before the handshake completes it checks
`Host` (DNS rebinding: a hostile name resolving to 127.0.0.1 carries its own name in Host) and
`Origin` (cross-site WebSocket hijacking: any page may open ws://127.0.0.1): the Origin must be a
well-formed https origin (http://localhost in dev mode) that the `OriginApprover` allows or may
still ask the user about. The validated Origin is what the agent sees; the message's `origin` field
is ignored. No CORS headers are ever sent.

Limits: connections in all and per origin, handshakes per origin and second (429), requests per
origin and second (shared by its connections, so opening more sockets does not buy more), message
size, a handshake timeout (slow or half-open handshakes are dropped) and an idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sceau.config import Config
from sceau.errors import Busy, SceauError
from sceau.protocol import messages
from sceau.protocol.codes import ErrorCode
from sceau.protocol.constants import WS_CLOSE_IDLE, WS_CLOSE_ORIGIN_NOT_ALLOWED
from sceau.protocol.origin import normalize_origin
from sceau.protocol.session import WEBSOCKET, RequestHandler, Session, TokenBucket

log = logging.getLogger(__name__)

BIND_HOSTS = ("127.0.0.1", "::1")
MAX_CONNECTIONS = 32  # served (or waiting for the user's answer) at once, all origins
MAX_CONNECTIONS_PER_ORIGIN = 16
# Connections of a site not allowed yet, waiting for the user's answer: few, so sites waiting for an
# answer (at most a few, see siteconnect) can never take every slot from the allowed ones.
MAX_WAITING_PER_ORIGIN = 4
# Requests per origin (all its connections): a tight loop of cheap requests from a page is capped,
# a platform signing hash after hash (each waits for its reply) or uploading in chunks is not.
RATE_PER_SECOND = 1000.0
RATE_BURST = 1000
HANDSHAKES_PER_SECOND = 10.0  # per origin: a page looping on `new WebSocket` gets 429
HANDSHAKE_BURST = 30
HANDSHAKE_TIMEOUT_S = 5.0
IDLE_TIMEOUT_S = 600.0  # no request and nothing in flight for this long: closed (the page reconnects)
MAX_TRACKED_ORIGINS = 256


class OriginApprover(Protocol):
    """Which origins may connect (`sceau.siteconnect.ConnectionApprover` is the agent's)."""

    def allowed(self, origin: str) -> bool: ...

    def may_ask(self, origin: str) -> bool: ...

    async def approve(self, origin: str) -> bool: ...


class ConfiguredOrigins:
    """The configuration's list only (no one to ask)."""

    def __init__(self, config: Config) -> None:
        self._origins = set()
        for item in config.websocket_allowed_origins:
            with contextlib.suppress(SceauError):  # a bad entry in the config allows nothing
                self._origins.add(normalize_origin(item, dev_mode=True))

    def allowed(self, origin: str) -> bool:
        return origin in self._origins

    def may_ask(self, origin: str) -> bool:
        return False

    async def approve(self, origin: str) -> bool:
        return origin in self._origins


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})


def handshake_origin(host: str | None, origin: str | None, port: int, config: Config) -> str | None:
    """The canonical Origin when Host is ours and Origin a well-formed site origin, else None."""
    if host is None or host.lower() not in allowed_hosts(port):
        return None
    if not origin:
        return None
    try:
        return normalize_origin(origin, dev_mode=config.dev_mode, max_length=config.limits.max_origin_length)
    except SceauError:
        return None


def check_handshake(host: str | None, origin: str | None, port: int, config: Config) -> str | None:
    """The canonical Origin when it is in the configured list (and Host is ours), else None."""
    canonical = handshake_origin(host, origin, port, config)
    return canonical if canonical is not None and ConfiguredOrigins(config).allowed(canonical) else None


@dataclass
class _OriginState:
    """What one origin holds across its connections."""

    rate: TokenBucket = field(default_factory=lambda: TokenBucket(RATE_PER_SECOND, RATE_BURST))
    handshakes: TokenBucket = field(default_factory=lambda: TokenBucket(HANDSHAKES_PER_SECOND, HANDSHAKE_BURST))
    connections: int = 0


class WebSocketServer:
    """The fallback server. `start()` → listening on the loopback addresses, `config.websocket_port`."""

    def __init__(
        self,
        handler: RequestHandler,
        config: Config,
        *,
        port: int | None = None,
        approver: OriginApprover | None = None,
        handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        self.handler = handler
        self.config = config
        self.port = config.websocket_port if port is None else port
        self.approver: OriginApprover = approver or ConfiguredOrigins(config)
        self.handshake_timeout_s = handshake_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self._servers: list[Server] = []
        # Origins validated at handshake time; weak so a handshake that fails later leaves nothing.
        self._validated: weakref.WeakKeyDictionary[ServerConnection, str] = weakref.WeakKeyDictionary()
        self._connections: dict[ServerConnection, Session] = {}  # served now (or waiting for approval)
        self._origins: dict[str, _OriginState] = {}
        self._refusal_log = TokenBucket(1.0, 20)

    async def start(self) -> None:
        options: dict[str, Any] = {
            "process_request": self._process_request,
            "max_size": self.config.limits.max_message_bytes,
            "max_queue": 4,
            "compression": None,  # no decompression bombs; payloads are base64 anyway
            "server_header": None,
            "open_timeout": self.handshake_timeout_s,
        }
        self._servers = [await serve(self._serve, BIND_HOSTS[0], self.port, **options)]
        if self.port == 0:  # tests: learn the port the OS picked (::1 then takes the same one)
            self.port = self._servers[0].sockets[0].getsockname()[1]
        for host in BIND_HOSTS[1:]:
            try:
                self._servers.append(await serve(self._serve, host, self.port, **options))
            except OSError:  # no IPv6 loopback on this machine
                log.warning("%s unavailable: the WebSocket fallback listens on 127.0.0.1 only", host)

    @property
    def sockets(self) -> list[Any]:
        """The listening sockets (one per loopback address)."""
        return [s for server in self._servers for s in server.sockets]

    def _state(self, origin: str) -> _OriginState:
        state = self._origins.get(origin)
        if state is None:
            if len(self._origins) >= MAX_TRACKED_ORIGINS:  # forget origins with nothing open
                for key in [k for k, s in self._origins.items() if s.connections == 0]:
                    del self._origins[key]
            state = self._origins[origin] = _OriginState()
        return state

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if len(request.headers.get_all("Host")) > 1 or len(request.headers.get_all("Origin")) > 1:
            # Ambiguous: which one would the browser have meant? A client error, never a 500.
            if self._refusal_log.take():
                log.warning("refused WebSocket handshake with duplicate Host or Origin headers")
            return connection.respond(HTTPStatus.BAD_REQUEST, "Duplicate Host or Origin header.\n")
        host, given = _single(request, "Host"), _single(request, "Origin")
        origin = handshake_origin(host, given, self.port, self.config)
        if origin is None or not (self.approver.allowed(origin) or self.approver.may_ask(origin)):
            if self._refusal_log.take():  # a flood of refused handshakes must not flood the log
                log.warning("refused WebSocket handshake from origin %r host %r", given, host)
            return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden.\n")
        if len(self._connections) >= MAX_CONNECTIONS:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Too many connections.\n")
        state = self._state(origin)
        cap = MAX_CONNECTIONS_PER_ORIGIN if self.approver.allowed(origin) else MAX_WAITING_PER_ORIGIN
        if not state.handshakes.take() or state.connections >= cap:
            return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "Too many connections from this site.\n")
        self._validated[connection] = origin
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        origin = self._validated.pop(connection, None)
        if origin is None:  # handshake not validated by us: never serve
            await connection.close(1008)
            return
        state = self._state(origin)
        state.connections += 1
        session = Session(WEBSOCKET, origin=origin, rate=state.rate)
        self._connections[connection] = session
        tasks: set[asyncio.Task[None]] = set()
        try:
            if not await self.approver.approve(origin):
                await connection.close(WS_CLOSE_ORIGIN_NOT_ALLOWED, ErrorCode.ORIGIN_NOT_ALLOWED.value)
                return
            await self._pump(connection, session, tasks)
        except ConnectionClosed:
            pass
        finally:
            for task in tasks:
                task.cancel()
            self._connections.pop(connection, None)
            state.connections -= 1
            self.handler.connection_closed(session)

    async def _pump(self, connection: ServerConnection, session: Session, tasks: set[asyncio.Task[None]]) -> None:
        lock = asyncio.Lock()

        async def send(message: dict[str, Any]) -> None:
            async with lock:
                with contextlib.suppress(ConnectionClosed):
                    await connection.send(_dumps(message))

        async def serve_one(text: str) -> None:
            try:
                response = await self.handler.handle(text.encode("utf-8"), session=session, emit=send)
                await send(response)
            finally:
                session.release()

        while True:
            try:
                message = await asyncio.wait_for(connection.recv(), self.idle_timeout_s)
            except TimeoutError:
                if session.in_flight:  # a long operation (the user is reading a consent): not idle
                    continue
                await connection.close(WS_CLOSE_IDLE, "idle")
                return
            if isinstance(message, bytes):
                await send(messages.error(None, ErrorCode.BAD_REQUEST, "Send JSON text messages."))
                continue
            try:
                session.admit()
            except Busy as exc:
                await send(session.refusal(message, exc))
                continue
            task = asyncio.create_task(serve_one(message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def broadcast(self, notification: dict[str, Any]) -> None:
        for conn, session in list(self._connections.items()):
            if session.subscribed:
                with contextlib.suppress(ConnectionClosed):
                    await conn.send(_dumps(notification))

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)


def _single(request: Request, name: str) -> str | None:
    """A header given exactly once (a repeated Host or Origin is refused, not guessed)."""
    values = request.headers.get_all(name)
    return values[0] if len(values) == 1 else None


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
