"""WebSocket fallback: 127.0.0.1 only, Host and Origin checked before the handshake, limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sceau.app import Agent
from sceau.config import Config, Limits
from sceau.protocol.session import WEBSOCKET, Session, TokenBucket
from sceau.tokens.registry import TokenManager
from sceau.transports import websocket as ws_mod
from sceau.transports.websocket import WebSocketServer, check_handshake
from sceau.ui.headless import HeadlessUI

ALLOWED = "https://marches.example.fr"


class Recorder:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.closed: list[Session] = []

    def connection_closed(self, session: Session) -> None:
        self.closed.append(session)

    async def handle(self, message: bytes | dict[str, Any], **kw: Any) -> dict[str, Any]:
        assert isinstance(message, bytes)
        req = json.loads(message)
        self.seen.append({"req": req, **kw})
        return {"v": 1, "id": req.get("id"), "ok": True, "result": {"origin": kw["session"].origin}}


@pytest.fixture
async def server() -> AsyncIterator[tuple[WebSocketServer, Recorder]]:
    rec = Recorder()
    cfg = Config(websocket_allowed_origins=(ALLOWED,), limits=Limits(max_message_bytes=4096))
    srv = WebSocketServer(rec, cfg, port=0)
    await srv.start()
    yield srv, rec
    await srv.close()


async def test_allowed_origin_is_what_the_agent_sees(server: tuple[WebSocketServer, Recorder]) -> None:
    srv, rec = server
    async with connect(f"ws://127.0.0.1:{srv.port}", origin=ALLOWED) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"v": 1, "id": "1", "cmd": "hello", "origin": "https://evil.example"}))
        reply = json.loads(await ws.recv())
    assert reply["result"]["origin"] == ALLOWED  # the message's own origin field is ignored
    assert rec.seen[0]["session"].channel is WEBSOCKET
    assert {s.getsockname()[0] for s in srv.sockets} <= {"127.0.0.1", "::1"}  # loopback only
    assert "127.0.0.1" in {s.getsockname()[0] for s in srv.sockets}


@pytest.mark.parametrize("origin", [None, "https://evil.example", "http://marches.example.fr", "null"])
async def test_other_origins_are_refused(server: tuple[WebSocketServer, Recorder], origin: str | None) -> None:
    srv, rec = server
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{srv.port}", origin=origin):  # type: ignore[arg-type]
            pass
    assert info.value.response.status_code == 403
    assert "access-control-allow-origin" not in {k.lower() for k in info.value.response.headers}
    assert rec.seen == []


async def test_dns_rebinding_host_is_refused(server: tuple[WebSocketServer, Recorder]) -> None:
    srv, _rec = server
    with pytest.raises(InvalidStatus):
        async with connect(
            f"ws://127.0.0.1:{srv.port}",
            origin=ALLOWED,  # type: ignore[arg-type]
            additional_headers={"Host": f"attacker.example:{srv.port}"},
        ):
            pass


def test_check_handshake_unit() -> None:
    cfg = Config(websocket_allowed_origins=(ALLOWED,))
    assert check_handshake("localhost:8765", ALLOWED, 8765, cfg) == ALLOWED
    assert check_handshake("localhost:8765", ALLOWED + ":443", 8765, cfg) == ALLOWED  # canonical form
    assert check_handshake("localhost:9999", ALLOWED, 8765, cfg) is None
    assert check_handshake(None, ALLOWED, 8765, cfg) is None


async def test_oversized_message_closes_the_connection(server: tuple[WebSocketServer, Recorder]) -> None:
    srv, rec = server
    async with connect(f"ws://127.0.0.1:{srv.port}", origin=ALLOWED) as ws:  # type: ignore[arg-type]
        await ws.send("x" * 10_000)
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009  # message too big
    assert rec.seen == []


async def test_rate_limit_answers_busy(server: tuple[WebSocketServer, Recorder], monkeypatch: Any) -> None:
    srv, _rec = server
    monkeypatch.setattr(ws_mod, "RATE_BURST", 3)
    monkeypatch.setattr(ws_mod, "RATE_PER_SECOND", 0.001)
    async with connect(f"ws://127.0.0.1:{srv.port}", origin=ALLOWED) as ws:  # type: ignore[arg-type]
        for i in range(5):
            await ws.send(json.dumps({"v": 1, "id": str(i), "cmd": "hello"}))
        replies = [json.loads(await ws.recv()) for _ in range(5)]
    codes = sorted(r.get("error", {}).get("code", "OK") for r in replies)
    assert codes == ["BUSY", "BUSY", "OK", "OK", "OK"]


def test_token_bucket() -> None:
    now = [0.0]
    b = TokenBucket(1.0, 2, clock=lambda: now[0])
    assert [b.take(), b.take(), b.take()] == [True, True, False]
    now[0] = 1.0
    assert b.take() is True


async def test_site_commands_are_refused_over_websocket() -> None:
    cfg = Config(websocket_allowed_origins=(ALLOWED,))
    agent = Agent(cfg, TokenManager([]), HeadlessUI())
    srv = WebSocketServer(agent, cfg, port=0)
    await srv.start()
    try:
        async with connect(f"ws://127.0.0.1:{srv.port}", origin=ALLOWED) as ws:  # type: ignore[arg-type]
            await ws.send(
                json.dumps(
                    {
                        "v": 1,
                        "id": "g",
                        "cmd": "site-grant",
                        "args": {"origin": "https://evil.example", "operations": ["sign"]},
                    }
                )
            )
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["error"]["code"] == "ORIGIN_NOT_ALLOWED"
    finally:
        await srv.close()
        agent.close()
