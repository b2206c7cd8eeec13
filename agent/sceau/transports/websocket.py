"""Localhost WebSocket fallback (browsers without the extension). Pumps JSON text messages only.

Binds 127.0.0.1 only. Before the handshake completes it checks `Host` (DNS rebinding: a hostile
name resolving to 127.0.0.1 carries its own name in Host) and `Origin` (cross-site WebSocket
hijacking: any page may open ws://127.0.0.1) against the configured list; the validated Origin is
what the agent sees, the message's `origin` field is ignored. No CORS headers are ever sent.
Per-connection message size and rate limits; a cap on simultaneous connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sceau.config import Config
from sceau.errors import Busy, SceauError
from sceau.protocol import messages
from sceau.protocol.codes import ErrorCode
from sceau.protocol.origin import normalize_origin
from sceau.protocol.session import WEBSOCKET, RequestHandler, Session, TokenBucket

log = logging.getLogger(__name__)

BIND_HOST = "127.0.0.1"
MAX_CONNECTIONS = 16
RATE_PER_SECOND = 20.0  # sustained requests per connection
RATE_BURST = 40


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})


def check_handshake(host: str | None, origin: str | None, port: int, config: Config) -> str | None:
    """The canonical Origin when the handshake may proceed, None to refuse it."""
    if host is None or host.lower() not in allowed_hosts(port):
        return None
    if not origin:
        return None
    try:
        canonical = normalize_origin(origin, dev_mode=config.dev_mode, max_length=config.limits.max_origin_length)
    except SceauError:
        return None
    allowed = set()
    for item in config.websocket_allowed_origins:
        with contextlib.suppress(SceauError):  # a bad entry in the config allows nothing
            allowed.add(normalize_origin(item, dev_mode=True))
    return canonical if canonical in allowed else None


class WebSocketServer:
    """The fallback server. `start()` → listening on 127.0.0.1:`config.websocket_port`."""

    def __init__(self, handler: RequestHandler, config: Config, *, port: int | None = None) -> None:
        self.handler = handler
        self.config = config
        self.port = config.websocket_port if port is None else port
        self._server: Server | None = None
        # Origins validated at handshake time; weak so a handshake that fails later leaves nothing.
        self._validated: weakref.WeakKeyDictionary[ServerConnection, str] = weakref.WeakKeyDictionary()
        self._connections: dict[ServerConnection, Session] = {}  # served now

    async def start(self) -> None:
        self._server = await serve(
            self._serve,
            BIND_HOST,
            self.port,
            process_request=self._process_request,
            max_size=self.config.limits.max_message_bytes,
            max_queue=4,
            compression=None,  # no decompression bombs; payloads are base64 anyway
            server_header=None,
        )
        if self.port == 0:  # tests: learn the port the OS picked
            self.port = self._server.sockets[0].getsockname()[1]

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if len(self._connections) >= MAX_CONNECTIONS:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Too many connections.\n")
        hosts, origins = request.headers.get_all("Host"), request.headers.get_all("Origin")
        if len(hosts) > 1 or len(origins) > 1:  # ambiguous: which one would the browser have meant?
            log.warning("refused WebSocket handshake with duplicate Host or Origin headers")
            return connection.respond(HTTPStatus.BAD_REQUEST, "Duplicate Host or Origin header.\n")
        origin = check_handshake(hosts[0] if hosts else None, origins[0] if origins else None, self.port, self.config)
        if origin is None:
            log.warning(
                "refused WebSocket handshake from origin %r host %r",
                origins[0] if origins else None,
                hosts[0] if hosts else None,
            )
            return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden.\n")
        self._validated[connection] = origin
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        origin = self._validated.pop(connection, None)
        if origin is None:  # handshake not validated by us: never serve
            await connection.close(1008)
            return
        session = Session(WEBSOCKET, origin=origin, rate=TokenBucket(RATE_PER_SECOND, RATE_BURST))
        self._connections[connection] = session
        tasks: set[asyncio.Task[None]] = set()
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

        try:
            async for message in connection:
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
        except ConnectionClosed:
            pass
        finally:
            for task in tasks:
                task.cancel()
            self._connections.pop(connection, None)
            self.handler.connection_closed(session)

    async def broadcast(self, notification: dict[str, Any]) -> None:
        for conn, session in list(self._connections.items()):
            if session.subscribed:
                with contextlib.suppress(ConnectionClosed):
                    await conn.send(_dumps(notification))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
