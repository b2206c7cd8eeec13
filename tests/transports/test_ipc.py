"""IPC transport: framing over the Unix socket, concurrency, session lock, permissions, bad input."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sceau.app import Agent
from sceau.config import Config, Limits
from sceau.protocol.framing import FrameDecoder, encode_frame
from sceau.protocol.session import Session
from sceau.tokens.registry import TokenManager
from sceau.transports.ipc import AgentAlreadyRunning, IpcServer, read_agent_pid, socket_path
from sceau.transports.unix import UnsafeSocket, check_socket_file, peer_uid
from sceau.ui.headless import HeadlessUI


class StubHandler:
    """Echoes `args`; `sleep` delays, `events` emits partial results first."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.closed: list[Session] = []

    def connection_closed(self, session: Session) -> None:
        self.closed.append(session)

    async def handle(
        self,
        message: bytes | dict[str, Any],
        *,
        session: Session | None = None,
        emit: Any = None,
    ) -> dict[str, Any]:
        assert session is not None
        assert isinstance(message, bytes)
        req = json.loads(message)
        self.calls.append(req)
        args = req.get("args", {})
        await asyncio.sleep(args.get("sleep", 0))
        for i in range(args.get("events", 0)):
            await emit({"v": 1, "id": req["id"], "event": {"n": i}})
        return {"v": 1, "id": req["id"], "ok": True, "result": {"echo": args, "transport": session.channel.name}}


@pytest.fixture
def runtime() -> Iterator[Path]:
    # Short path: Unix socket paths are limited to ~107 bytes.
    path = Path(tempfile.mkdtemp(prefix="sc-ipc-"))
    yield path / "run"
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def config(runtime: Path) -> Config:
    return Config(runtime_dir=str(runtime), limits=Limits(max_message_bytes=64 * 1024))


@pytest.fixture
async def server(config: Config) -> AsyncIterator[IpcServer]:
    srv = IpcServer(StubHandler(), config)
    await srv.start()
    task = asyncio.create_task(srv.serve_forever())
    yield srv
    task.cancel()
    await srv.close()


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder(1 << 26)
        self.buffered: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, config: Config) -> Client:
        return cls(*await asyncio.open_unix_connection(str(socket_path(config))))

    async def send(self, message: dict[str, Any]) -> None:
        self.writer.write(encode_frame(message))
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self) -> dict[str, Any] | None:
        while not self.buffered:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            if not data:
                return None
            self.buffered += [json.loads(b) for b in self.decoder.feed(data)]
        return self.buffered.pop(0)

    async def close(self) -> None:
        self.writer.close()


async def test_round_trip_and_file_modes(server: IpcServer, config: Config) -> None:
    client = await Client.open(config)
    await client.send({"v": 1, "id": "a", "cmd": "hello", "args": {"x": "é"}})
    assert await client.recv() == {"v": 1, "id": "a", "ok": True, "result": {"echo": {"x": "é"}, "transport": "ipc"}}
    await client.close()
    st = socket_path(config).stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
    assert stat.S_IMODE(config.runtime_path().stat().st_mode) == 0o700
    assert read_agent_pid(config) == os.getpid()


async def test_requests_run_concurrently_and_replies_are_correlated(server: IpcServer, config: Config) -> None:
    a, b = await Client.open(config), await Client.open(config)
    await a.send({"v": 1, "id": "slow", "cmd": "hello", "args": {"sleep": 0.3}})
    await a.send({"v": 1, "id": "fast", "cmd": "hello", "args": {}})
    await b.send({"v": 1, "id": "other", "cmd": "hello", "args": {"who": "b"}})
    first, second = await a.recv(), await a.recv()
    assert first is not None and second is not None
    assert [first["id"], second["id"]] == ["fast", "slow"]  # the slow one did not block the fast one
    other = await b.recv()
    assert other is not None and other["result"]["echo"] == {"who": "b"}
    await a.close()
    await b.close()


async def test_events_precede_the_final_response(server: IpcServer, config: Config) -> None:
    c = await Client.open(config)
    await c.send({"v": 1, "id": "e", "cmd": "sign-documents", "args": {"events": 3}})
    got = [await c.recv() for _ in range(4)]
    assert [m["event"]["n"] for m in got[:3] if m] == [0, 1, 2]
    assert got[3] is not None and got[3]["ok"] is True
    await c.close()


async def test_huge_declared_length_is_refused_then_closed(server: IpcServer, config: Config) -> None:
    c = await Client.open(config)
    await c.send_raw(struct.pack("<I", 0xFFFFFFF0))
    reply = await c.recv()
    assert reply is not None and reply["error"]["code"] == "TOO_LARGE" and reply["id"] is None
    assert await c.recv() is None  # closed: the stream cannot be resynchronised
    await c.close()


async def test_truncated_frame_then_disconnect_does_not_hurt_the_server(server: IpcServer, config: Config) -> None:
    c = await Client.open(config)
    await c.send_raw(struct.pack("<I", 100) + b'{"v":1')
    await c.close()
    d = await Client.open(config)
    await d.send({"v": 1, "id": "ok", "cmd": "hello"})
    reply = await d.recv()
    assert reply is not None and reply["ok"]
    await d.close()


async def test_one_agent_per_session(server: IpcServer, config: Config) -> None:
    second = IpcServer(StubHandler(), config)
    with pytest.raises(AgentAlreadyRunning):
        await second.start()
    # The running server still answers.
    c = await Client.open(config)
    await c.send({"v": 1, "id": "still", "cmd": "hello"})
    assert (await c.recv() or {}).get("ok") is True
    await c.close()


async def test_stale_socket_is_replaced(config: Config) -> None:
    # A crashed agent leaves its socket file (and no lock holder) behind.
    config.runtime_path().mkdir(mode=0o700, parents=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(socket_path(config)))
    stale.close()
    srv = IpcServer(StubHandler(), config)
    await srv.start()
    try:
        c = await Client.open(config)
        await c.send({"v": 1, "id": "x", "cmd": "hello"})
        assert (await c.recv() or {}).get("ok") is True
        await c.close()
    finally:
        await srv.close()
    assert not socket_path(config).exists()  # removed on clean shutdown


async def test_real_agent_maps_bad_input_to_codes(config: Config) -> None:
    agent = Agent(config, TokenManager([]), HeadlessUI())
    srv = IpcServer(agent, config)
    await srv.start()
    try:
        c = await Client.open(config)
        body = b"not json"
        await c.send_raw(struct.pack("<I", len(body)) + body)
        await c.send({"v": 2, "id": "v2", "cmd": "hello", "origin": "https://a.fr"})
        await c.send({"v": 1, "id": "u", "cmd": "frobnicate", "origin": "https://a.fr"})
        await c.send({"v": 1, "id": "h", "cmd": "hello", "origin": "https://a.fr"})
        replies = {}
        for _ in range(4):
            m = await c.recv()
            assert m is not None and "Traceback" not in json.dumps(m)
            replies[m["id"]] = m
        assert replies[None]["error"]["code"] == "BAD_REQUEST"
        assert replies["v2"]["error"]["code"] == "UNSUPPORTED"
        assert replies["u"]["error"]["code"] == "UNSUPPORTED"
        assert replies["h"]["ok"] is True
        # subscribe → notifications reach this connection only.
        other = await Client.open(config)
        await c.send({"v": 1, "id": "s", "cmd": "subscribe", "origin": "https://a.fr"})
        assert (await c.recv() or {}).get("ok") is True
        agent.add_listener(srv.broadcast)
        await agent.broadcast({"type": "token-inserted", "label": "T"})
        note = await c.recv()
        assert note == {"v": 1, "notify": {"type": "token-inserted", "label": "T"}}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(other.reader.read(1), 0.2)
        await c.close()
        await other.close()
    finally:
        await srv.close()
        agent.close()


def test_peer_uid_is_ours() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    try:
        assert peer_uid(a) == os.getuid()
    finally:
        a.close()
        b.close()


def test_client_refuses_a_socket_owned_by_another_user(runtime: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to create a file owned by another user")  # CI runs as root
    runtime.mkdir(mode=0o700, parents=True)
    path = runtime / "agent.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    os.chmod(path, 0o600)
    os.chown(path, 65534, 65534)
    try:
        with pytest.raises(UnsafeSocket):
            check_socket_file(path)
        os.chown(path, 0, 0)
        os.chmod(path, 0o666)
        with pytest.raises(UnsafeSocket):
            check_socket_file(path)  # open to others
    finally:
        s.close()


async def test_another_user_cannot_connect(server: IpcServer, config: Config) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to run a client as another user")
    code = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX)\n"
        "try:\n s.connect(sys.argv[1])\nexcept PermissionError:\n sys.exit(7)\n"
        "sys.exit(0)\n"
    )
    proc = await asyncio.create_subprocess_exec(
        "/usr/bin/python3",
        "-c",
        code,
        str(socket_path(config)),
        user=65534,
        group=65534,
        cwd="/",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert await proc.wait() == 7


async def test_closing_the_connection_deletes_its_uploads(config: Config) -> None:
    """A page that goes away mid-upload must not leave bid data in temp files."""
    import base64

    agent = Agent(config, TokenManager([]), HeadlessUI())
    srv = IpcServer(agent, config)
    await srv.start()
    try:
        c = await Client.open(config)
        data = base64.b64encode(b"offre confidentielle" * 1000).decode()
        await c.send(
            {
                "v": 1,
                "id": "u1",
                "cmd": "upload-chunk",
                "origin": "https://a.fr",
                "args": {"index": 0, "data": data, "final": False, "name": "offre.zip"},
            }
        )
        reply = await c.recv()
        assert reply is not None and reply["ok"], reply
        (conn,) = list(srv._connections)
        store = agent.connection(conn.session, "https://a.fr").transfers(config.limits)
        folder = Path(store.root)
        assert any(folder.rglob("*")), "upload not on disk"
        await c.close()
        for _ in range(50):
            if not folder.exists():
                break
            await asyncio.sleep(0.05)
        assert not folder.exists()
        assert conn.session not in agent.open_sessions  # a closed connection leaves no state
    finally:
        await srv.close()
        agent.close()
