"""WebSocket fallback: first-connection consent (stored, revocable), loopback addresses, per-origin
limits, handshake and idle timeouts, and hostile handshakes while a good client keeps being served."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sceau.config import Config, Limits
from sceau.protocol.codes import OperationKind
from sceau.protocol.constants import WS_CLOSE_IDLE, WS_CLOSE_ORIGIN_NOT_ALLOWED
from sceau.siteconnect import ConnectionApprover
from sceau.store.sites import TrustedSites
from sceau.transports import websocket as ws_mod
from sceau.transports.websocket import WebSocketServer
from sceau.ui.api import ConsentDecision
from sceau.ui.headless import HeadlessUI
from tests.transports.test_websocket import ALLOWED, Recorder

SITE = "https://achats.example.fr"
OTHER = "https://ville.example.fr"


class Asked(HeadlessUI):
    """The headless UI, answering `answer` and counting the questions (a slow user with `delay`)."""

    answers_at_once = False  # it may sleep: never on the event loop

    def __init__(self, answer: bool, delay: float = 0.0) -> None:
        super().__init__(approve=answer)
        self.delay = delay

    def confirm(self, request: Any) -> ConsentDecision:
        time.sleep(self.delay)
        return super().confirm(request)


async def run_blocking(fn: Callable[[], ConsentDecision]) -> ConsentDecision:
    return await asyncio.get_running_loop().run_in_executor(None, fn)


async def start(tmp_path: Path, ui: Asked | None = None, **kw: Any) -> tuple[WebSocketServer, Recorder, TrustedSites]:
    cfg = Config(websocket_allowed_origins=(ALLOWED,), limits=Limits(max_message_bytes=4096))
    sites = TrustedSites(tmp_path)
    approver = ConnectionApprover(cfg, sites, ui or Asked(True), run_blocking)
    rec = Recorder()
    srv = WebSocketServer(rec, cfg, port=0, approver=approver, **kw)
    await srv.start()
    return srv, rec, sites


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[WebSocketServer, Recorder, TrustedSites, Asked]]:
    ui = Asked(True)
    srv, rec, sites = await start(tmp_path, ui)
    yield srv, rec, sites, ui
    await srv.close()


async def hello(ws: ClientConnection, rid: str = "1") -> dict[str, Any]:
    await ws.send(json.dumps({"v": 1, "id": rid, "cmd": "hello"}))
    reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return reply


def url(srv: WebSocketServer, host: str = "127.0.0.1") -> str:
    return f"ws://{host}:{srv.port}"


async def status_of(srv: WebSocketServer, origin: str | None, **kw: Any) -> int:
    """The HTTP status of a handshake (101 when it succeeded)."""
    try:
        async with connect(url(srv), origin=origin, open_timeout=5, **kw):  # type: ignore[arg-type]
            return 101
    except InvalidStatus as e:
        return int(e.response.status_code)


async def test_first_connection_asks_then_is_remembered_and_revocable(served: Any) -> None:
    srv, _rec, sites, ui = served
    async with connect(url(srv), origin=SITE) as ws:  # type: ignore[arg-type]
        assert (await hello(ws))["result"]["origin"] == SITE
    assert [c.operation for c in ui.consents] == [OperationKind.CONNECT]
    assert "wants to connect to Sceau" in ui.consents[0].detail and SITE in ui.consents[0].detail
    assert sites.is_allowed(SITE, OperationKind.CONNECT)  # the trusted-sites store: tray and options list it
    async with connect(url(srv), origin=SITE) as ws:  # type: ignore[arg-type]
        await hello(ws)
    assert len(ui.consents) == 1, "asked once"
    sites.revoke(SITE, [OperationKind.CONNECT])
    async with connect(url(srv), origin=SITE) as ws:  # type: ignore[arg-type]
        await hello(ws)
    assert len(ui.consents) == 2, "asked again after the revocation"
    # The configured list (IT departments) never asks.
    async with connect(url(srv), origin=ALLOWED) as ws:  # type: ignore[arg-type]
        await hello(ws)
    assert len(ui.consents) == 2


async def test_refusal_closes_with_a_code_and_is_not_asked_again(tmp_path: Path) -> None:
    ui = Asked(False)
    srv, rec, sites = await start(tmp_path, ui)
    try:
        async with connect(url(srv), origin=SITE) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({"v": 1, "id": "1", "cmd": "hello"}))
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (WS_CLOSE_ORIGIN_NOT_ALLOWED, "ORIGIN_NOT_ALLOWED")
        assert rec.seen == [] and not sites.is_allowed(SITE, OperationKind.CONNECT)
        assert await status_of(srv, SITE) == 403  # refused at the handshake now, no new question
        assert len(ui.consents) == 1
    finally:
        await srv.close()


async def test_concurrent_connections_share_one_question(tmp_path: Path) -> None:
    ui = Asked(True, delay=0.3)
    srv, _rec, _sites = await start(tmp_path, ui)
    try:

        async def one(i: int) -> str:
            async with connect(url(srv), origin=SITE) as ws:  # type: ignore[arg-type]
                return str((await hello(ws, str(i)))["id"])

        n = ws_mod.MAX_WAITING_PER_ORIGIN
        assert sorted(await asyncio.gather(*(one(i) for i in range(n)))) == [str(i) for i in range(n)]
        assert len(ui.consents) == 1
    finally:
        await srv.close()


async def test_ipv6_loopback_bound_and_accepted_as_host(served: Any) -> None:
    srv, _rec, _sites, _ui = served
    assert {s.getsockname()[0] for s in srv.sockets} == {"127.0.0.1", "::1"}
    async with connect(url(srv, "[::1]"), origin=ALLOWED) as ws:  # type: ignore[arg-type]
        assert (await hello(ws))["ok"]
    # Host [::1] on the IPv4 socket too (the browser names the host it was given); a repeated Host
    # is refused (400), not guessed.
    assert await raw_handshake(srv.port, [f"[::1]:{srv.port}"], ALLOWED) == b"HTTP/1.1 101"
    assert await raw_handshake(srv.port, [f"127.0.0.1:{srv.port}", "evil.example"], ALLOWED) == b"HTTP/1.1 400"


async def raw_handshake(port: int, hosts: list[str], origin: str) -> bytes:
    """The status line the server answers to a hand-written upgrade request."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    lines = [
        "GET / HTTP/1.1",
        *(f"Host: {h}" for h in hosts),
        f"Origin: {origin}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    w.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await w.drain()
    status = (await asyncio.wait_for(r.readline(), 5)).strip()
    w.close()
    return status[:12]


async def test_max_connections(served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    srv, _rec, _sites, _ui = served
    monkeypatch.setattr(ws_mod, "MAX_CONNECTIONS", 3)
    async with contextlib.AsyncExitStack() as stack:
        conns = [await stack.enter_async_context(connect(url(srv), origin=ALLOWED)) for _ in range(3)]  # type: ignore[arg-type]
        for c in conns:
            await hello(c)
        assert await status_of(srv, ALLOWED) == 503
        await conns[0].close()
        await asyncio.sleep(0.1)
        assert await status_of(srv, ALLOWED) == 101  # a slot came back


async def test_per_origin_connection_cap_leaves_others_served(served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    srv, _rec, _sites, _ui = served
    monkeypatch.setattr(ws_mod, "MAX_CONNECTIONS_PER_ORIGIN", 2)
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(2):
            await hello(await stack.enter_async_context(connect(url(srv), origin=ALLOWED)))  # type: ignore[arg-type]
        assert await status_of(srv, ALLOWED) == 429
        assert await status_of(srv, SITE) == 101


async def test_request_rate_is_per_origin_not_per_connection(served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    srv, _rec, _sites, _ui = served
    monkeypatch.setattr(ws_mod, "RATE_BURST", 3)
    monkeypatch.setattr(ws_mod, "RATE_PER_SECOND", 0.001)
    async with connect(url(srv), origin=OTHER) as a, connect(url(srv), origin=OTHER) as b:  # type: ignore[arg-type]
        replies = [await hello(a, "a1"), await hello(b, "b1"), await hello(a, "a2"), await hello(b, "b2")]
    codes = [r.get("error", {}).get("code", "OK") for r in replies]
    assert codes == ["OK", "OK", "OK", "BUSY"]


async def test_idle_connection_is_closed(tmp_path: Path) -> None:
    srv, _rec, _sites = await start(tmp_path, idle_timeout_s=0.3)
    try:
        async with connect(url(srv), origin=ALLOWED) as ws:  # type: ignore[arg-type]
            await hello(ws)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == WS_CLOSE_IDLE
    finally:
        await srv.close()


async def test_hostile_handshakes_while_a_good_client_is_served(tmp_path: Path) -> None:
    srv, _rec, _sites = await start(tmp_path, Asked(False), handshake_timeout_s=1.0)
    try:
        async with connect(url(srv), origin=ALLOWED) as good:  # type: ignore[arg-type]
            stop = asyncio.Event()
            served: list[float] = []

            async def keep_asking() -> None:
                i = 0
                while not stop.is_set():
                    started = time.monotonic()
                    assert (await hello(good, f"g{i}"))["ok"]
                    served.append(time.monotonic() - started)
                    i += 1
                    await asyncio.sleep(0.02)

            client = asyncio.create_task(keep_asking())
            # 30 slow handshakes: TCP open, half a request line, then nothing.
            slow = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(30)]
            for _r, w in slow:
                w.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:")
                await w.drain()
            # A site the user refuses: its first connection asks (refused: closed with ORIGIN_NOT_ALLOWED),
            # later ones get 403 at the handshake.
            with contextlib.suppress(ConnectionClosed):
                async with connect(url(srv), origin=SITE) as ws:  # type: ignore[arg-type]
                    await ws.recv()
            statuses = {
                "missing": await status_of(srv, None),
                "null": await status_of(srv, "null"),
                "http": await status_of(srv, "http://marches.example.fr"),
                "foreign": await status_of(srv, SITE),  # refused by the user: no new question
                # DNS rebinding: the page's own host name in Host (one header, as a browser sends it).
                "rebinding": int((await raw_handshake(srv.port, [f"attacker.example:{srv.port}"], ALLOWED))[9:]),
            }
            # An oversized handshake (one 20 kB header): refused by the HTTP parser.
            r, w = await asyncio.open_connection("127.0.0.1", srv.port)
            w.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nX: {'a' * 20_000}\r\n\r\n".encode())
            await w.drain()
            oversize = await asyncio.wait_for(r.read(200), 5)
            w.close()
            # 1 000 rapid connections from that site: 403, quickly.
            rapid: list[int] = []
            for batch in range(20):
                rapid += await asyncio.gather(*(status_of(srv, SITE) for _ in range(50)))
                del batch
            # The slow handshakes were dropped at the handshake timeout.
            dropped = [await asyncio.wait_for(rr.read(), 5) for rr, _w in slow]
            for _r, w in slow:
                w.close()
            stop.set()
            await client
        assert statuses == {"missing": 403, "null": 403, "http": 403, "foreign": 403, "rebinding": 403}
        assert oversize.startswith(b"HTTP/1.1 4") or oversize == b"", oversize
        assert rapid == [403] * 1000
        assert all(not d.startswith(b"HTTP/1.1 101") for d in dropped)
        assert len(served) > 10 and max(served) < 1.0, (len(served), max(served))
    finally:
        await srv.close()


async def test_handshake_flood_from_one_origin_gets_429(served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    srv, _rec, _sites, _ui = served
    monkeypatch.setattr(ws_mod, "HANDSHAKE_BURST", 5)
    monkeypatch.setattr(ws_mod, "HANDSHAKES_PER_SECOND", 0.001)
    # Only the handshake rate may refuse here: connections the server has not yet seen closed (a loaded
    # machine) must not reach the per-site connection caps first.
    monkeypatch.setattr(ws_mod, "MAX_WAITING_PER_ORIGIN", 100)
    monkeypatch.setattr(ws_mod, "MAX_CONNECTIONS_PER_ORIGIN", 100)
    ws_mod_state = srv._origins.pop(OTHER, None)
    del ws_mod_state
    got = [await status_of(srv, OTHER) for _ in range(8)]
    assert got == [101] * 5 + [429] * 3
    assert await status_of(srv, ALLOWED) == 101  # other sites are not affected


async def test_sites_waiting_for_an_answer_cannot_take_every_slot(tmp_path: Path) -> None:
    ui = Asked(True, delay=1.0)  # the user takes a second to answer
    srv, _rec, _sites = await start(tmp_path, ui)
    try:
        waiting = [asyncio.create_task(_open_and_hello(srv, SITE)) for _ in range(ws_mod.MAX_WAITING_PER_ORIGIN)]
        await asyncio.sleep(0.3)
        assert await status_of(srv, SITE) == 429  # no more waiting connections for that site
        async with connect(url(srv), origin=ALLOWED) as ws:  # type: ignore[arg-type]
            assert (await hello(ws))["ok"]  # an allowed site is served meanwhile
        assert all(r["ok"] for r in await asyncio.gather(*waiting))  # then the answer lets them in
        assert len(ui.consents) == 1
    finally:
        await srv.close()


async def _open_and_hello(srv: WebSocketServer, origin: str) -> dict[str, Any]:
    async with connect(url(srv), origin=origin) as ws:  # type: ignore[arg-type]
        return await hello(ws)
