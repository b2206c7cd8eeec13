"""The browser's pipes handed to the agent (POSIX): served like the relay served them, and every
malformed or hostile handover refused without hurting the listener."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sceau.config import Config, Limits
from sceau.protocol.constants import BROWSER_MAX_INBOUND
from sceau.protocol.framing import FrameDecoder, Oversized, encode_frame
from sceau.transports import browser_pipes
from sceau.transports.browser_pipes import ACCEPTED, GREETING, browser_socket_path, hand_over
from sceau.transports.ipc import IpcServer
from tests.transports.test_ipc import StubHandler

CAP = 64 * 1024


@pytest.fixture
def runtime() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sc-bp-"))  # short: Unix socket paths are limited
    yield path
    for p in sorted(path.rglob("*"), reverse=True):
        p.unlink() if not p.is_dir() else p.rmdir()
    path.rmdir()


@pytest.fixture
def config(runtime: Path) -> Config:
    return Config(runtime_dir=str(runtime / "run"), limits=Limits(max_message_bytes=CAP))


@pytest.fixture
async def server(config: Config) -> AsyncIterator[tuple[IpcServer, StubHandler]]:
    handler = StubHandler()
    srv = IpcServer(handler, config)
    await srv.start()
    yield srv, handler
    await srv.close()


class Browser:
    """The browser's side of the two pipes the host hands over (we write its requests, read replies)."""

    def __init__(self) -> None:
        self.to_agent_r, self.to_agent_w = os.pipe()  # the host's stdin
        self.from_agent_r, self.from_agent_w = os.pipe()  # the host's stdout
        self.buf = b""

    async def hand_over(self, config: Config) -> socket.socket:
        sock = await asyncio.to_thread(hand_over, config, self.to_agent_r, self.from_agent_w)
        assert sock is not None, "the agent did not take the pipes"
        os.close(self.to_agent_r)  # as the host: only the agent has them now
        os.close(self.from_agent_w)
        return sock

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_raw(encode_frame(message))

    async def send_raw(self, data: bytes) -> None:
        # From a thread: the agent reads on this test's event loop, and a pipe holds only 64 KiB.
        def write() -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(self.to_agent_w, view) :]

        await asyncio.to_thread(write)

    async def frame(self) -> bytes | None:
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack("<I", self.buf[:4])
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4 : 4 + n], self.buf[4 + n :]
                    return body
            data = await asyncio.wait_for(asyncio.to_thread(os.read, self.from_agent_r, 1 << 20), 10)
            if not data:
                return None
            self.buf += data

    async def recv(self) -> dict[str, Any]:
        body = await self.frame()
        assert body is not None, "the agent closed the browser's pipe"
        value: dict[str, Any] = json.loads(body)
        return value

    def close(self) -> None:
        for fd in (self.to_agent_w, self.from_agent_r):
            with contextlib.suppress(OSError):
                os.close(fd)


async def test_requests_are_served_on_the_handed_pipes_and_eof_releases_the_host(
    server: tuple[IpcServer, StubHandler], config: Config
) -> None:
    browser = Browser()
    control = await browser.hand_over(config)
    await browser.send({"v": 1, "id": "a", "cmd": "hello", "args": {"x": "é"}})
    assert await browser.recv() == {"v": 1, "id": "a", "ok": True, "result": {"echo": {"x": "é"}, "transport": "ipc"}}
    # Two at once, answered by id (requests run concurrently, as on the socket).
    await browser.send({"v": 1, "id": "slow", "cmd": "hello", "args": {"sleep": 0.3}})
    await browser.send({"v": 1, "id": "fast", "cmd": "hello", "args": {}})
    assert [(await browser.recv())["id"] for _ in range(2)] == ["fast", "slow"]
    # The browser closes the port: the agent lets the host go (its socket ends) and forgets the session.
    os.close(browser.to_agent_w)
    control.settimeout(10)
    assert await asyncio.to_thread(control.recv, 16) == b""
    assert await browser.frame() is None
    _srv, handler = server
    for _ in range(100):
        if handler.closed:
            break
        await asyncio.sleep(0.02)
    assert len(handler.closed) == 1
    control.close()
    os.close(browser.from_agent_r)


async def test_a_host_that_dies_ends_the_channel(server: tuple[IpcServer, StubHandler], config: Config) -> None:
    browser = Browser()
    control = await browser.hand_over(config)
    await browser.send({"v": 1, "id": "a", "cmd": "hello", "args": {}})
    assert (await browser.recv())["ok"] is True
    control.close()  # the host was killed: the browser must see its port close, not a stray agent
    assert await browser.frame() is None
    browser.close()


async def test_browser_rules_oversized_request_refused_by_id_and_big_reply_in_chunks(
    server: tuple[IpcServer, StubHandler], config: Config
) -> None:
    browser = Browser()
    control = await browser.hand_over(config)
    try:
        big = json.dumps({"v": 1, "id": "huge-1", "cmd": "hello", "args": {"pad": "x" * (CAP + 10)}}).encode()
        await browser.send_raw(struct.pack("<I", len(big)) + big)  # refused, read past without being kept
        reply = await browser.recv()
        assert reply["id"] == "huge-1" and reply["error"]["code"] == "TOO_LARGE"
        assert "65536" in reply["error"]["message"]
        # The port goes on: the next request is served.
        await browser.send({"v": 1, "id": "after", "cmd": "hello", "args": {}})
        assert (await browser.recv())["id"] == "after"
        # A reply above the browser's 1 MB cap reaches it as chunks of one message, in order.
        text = "é" * (BROWSER_MAX_INBOUND // 2) + "z" * 200_000  # 2-byte characters: ~1.2 MB of JSON
        srv, _handler = server
        srv.max_frame = 4 << 20  # for the connections that start now
        wide = Browser()
        wide_control = await wide.hand_over(config)
        await wide.send({"v": 1, "id": "long", "cmd": "hello", "args": {"t": text}})
        first = json.loads((await wide.frame()) or b"{}")
        count = first["chunk"]["count"]
        rest = [json.loads((await wide.frame()) or b"{}") for _ in range(count - 1)]
        wide.close()
        wide_control.close()
        chunks = [first, *rest]
        assert count >= 2 and [c["chunk"]["index"] for c in chunks] == list(range(count))
        whole = json.loads("".join(c["chunk"]["data"] for c in chunks))
        assert whole["id"] == "long" and whole["result"]["echo"]["t"] == text
    finally:
        browser.close()
        control.close()


async def _raw_handover(config: Config, payload: bytes, fds: list[int]) -> bytes:
    def run() -> bytes:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(browser_socket_path(config)))
            sock.settimeout(10)
            if fds:
                socket.send_fds(sock, [payload], fds)
            elif payload:
                sock.sendall(payload)
            try:
                return sock.recv(16)
            except TimeoutError:
                return b"(no answer)"

    return await asyncio.to_thread(run)


async def test_malformed_handovers_are_refused_and_the_listener_goes_on(
    server: tuple[IpcServer, StubHandler], config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(os.listdir("/proc/self/fd"))  # the agent runs in this process
    r, w = os.pipe()
    regular = os.open(tmp_path / "file", os.O_CREAT | os.O_RDWR)
    try:
        assert await _raw_handover(config, b"HELLO\n", [r, w]) == b""  # wrong greeting: closed
        assert await _raw_handover(config, GREETING, []) == b""  # no descriptors
        assert await _raw_handover(config, GREETING, [r]) == b""  # one descriptor
        assert await _raw_handover(config, GREETING, [regular, w]) == b""  # a file, not a pipe
        monkeypatch.setattr(browser_pipes, "HANDOVER_TIMEOUT_S", 0.2)
        assert await _raw_handover(config, b"", []) == b""  # says nothing: dropped after the timeout
    finally:
        for fd in (r, w, regular):
            os.close(fd)
    # The descriptors of refused handovers were closed in the agent (none leaked into it)...
    assert len(os.listdir("/proc/self/fd")) == before
    # ...and a good one is still taken.
    browser = Browser()
    control = await browser.hand_over(config)
    await browser.send({"v": 1, "id": "ok", "cmd": "hello", "args": {}})
    assert (await browser.recv())["ok"] is True
    browser.close()
    control.close()


async def test_no_listener_when_disabled_and_the_host_relays(config: Config) -> None:
    from dataclasses import replace

    off = replace(config, direct_browser_channel=False)
    srv = IpcServer(StubHandler(), off)
    await srv.start()
    try:
        assert not browser_socket_path(off).exists()
        assert await asyncio.to_thread(hand_over, off, 0, 1) is None
    finally:
        await srv.close()
    assert ACCEPTED == b"OK\n"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=8),
    st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=20),
)
def test_skipping_decoder_names_refusals_in_order_however_the_bytes_arrive(sizes: list[int], cuts: list[int]) -> None:
    limit = 1000
    bodies = [json.dumps({"v": 1, "id": f"r{i}", "pad": "x" * n}).encode() for i, n in enumerate(sizes)]
    stream = b"".join(struct.pack("<I", len(b)) + b for b in bodies)
    decoder = FrameDecoder(limit, skip_oversized=True)
    items: list[bytes | Oversized] = []
    pos, k = 0, 0
    while pos < len(stream):
        step = cuts[k % len(cuts)]
        items += decoder.feed_items(stream[pos : pos + step])
        pos, k = pos + step, k + 1
    expected = [b if len(b) <= limit else ("refused", len(b), f"r{i}") for i, b in enumerate(bodies)]
    got = [i if isinstance(i, bytes) else ("refused", i.length, i.request_id) for i in items]
    assert got == expected
    assert decoder.pending == 0
