"""Finding 4: sites sharing the extension's one native connection are isolated inside the agent —
transfers belong to the origin that created them, and each origin has its own in-flight cap."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sceau.app import Agent
from sceau.config import DEFAULT_LIMITS, Config, Limits
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.operations.registry import HANDLER_MODULES, Registry
from sceau.protocol.codes import Command
from sceau.protocol.framing import FrameDecoder, encode_frame
from sceau.protocol.session import MAX_IN_FLIGHT_PER_ORIGIN
from sceau.tokens.registry import TokenManager
from sceau.transports.ipc import IpcServer, socket_path
from sceau.ui.headless import HeadlessUI
from tests.formats.pdfs import make_pdf

SITE_A = "https://marches.example.fr"
SITE_B = "https://autre-site.example"


class Pipe:
    """One IPC connection, as the native host holds for the extension (every site on it)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder(1 << 26)
        self.replies: dict[str, dict[str, Any]] = {}

    async def send(self, rid: str, cmd: str, origin: str, args: dict[str, Any] | None = None) -> None:
        self.writer.write(encode_frame({"v": 1, "id": rid, "cmd": cmd, "origin": origin, "args": args or {}}))
        await self.writer.drain()

    async def reply(self, rid: str) -> dict[str, Any]:
        while rid not in self.replies:
            data = await asyncio.wait_for(self.reader.read(1 << 16), 10)
            assert data, "connection closed"
            for body in self.decoder.feed(data):
                msg = json.loads(body)
                self.replies[msg["id"]] = msg
        return self.replies.pop(rid)

    async def call(self, rid: str, cmd: str, origin: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.send(rid, cmd, origin, args)
        return await self.reply(rid)


@pytest.fixture
def runtime() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sc-iso-"))
    yield path / "run"
    shutil.rmtree(path, ignore_errors=True)


async def serve(agent: Agent, config: Config) -> AsyncIterator[Pipe]:
    server = IpcServer(agent, config)
    await server.start()
    try:
        pipe = Pipe(*await asyncio.open_unix_connection(str(socket_path(config))))
        yield pipe
        pipe.writer.close()
    finally:
        await server.close()
        agent.close()


async def test_a_transfer_is_usable_only_by_its_origin(runtime: Path) -> None:
    config = Config(runtime_dir=str(runtime))
    async for pipe in serve(Agent(config, TokenManager([]), HeadlessUI()), config):
        data = base64.b64encode(make_pdf()).decode()
        up = await pipe.call("u", "upload-chunk", SITE_A, {"index": 0, "data": data, "final": True, "name": "a.pdf"})
        assert up["ok"], up
        tid = up["result"]["transfer"]
        stolen = await pipe.call("b", "verify", SITE_B, {"document": {"transfer": tid}})
        assert stolen["ok"] is False and stolen["error"]["code"] == "BAD_REQUEST", stolen
        peek = await pipe.call("f", "fetch-chunk", SITE_B, {"transfer": tid, "index": 0})
        assert peek["ok"] is False
        own = await pipe.call("a", "verify", SITE_A, {"document": {"transfer": tid}})
        assert own["ok"] is True and own["result"]["format"] == "pades", own


class Gate:
    def __init__(self) -> None:
        self.event = asyncio.Event()


class HeldVerify(Operation):
    """Stands for any slow request (a consent left open): stays in flight until the test opens the gate."""

    command: ClassVar[Command] = Command.VERIFY
    uses_key: ClassVar[bool] = False
    gate: ClassVar[Gate]

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> None:
        return None

    async def run(self, ctx: OperationContext, params: None) -> JSON:
        await self.gate.event.wait()
        return {}


def registry_with(op: Operation) -> Registry:
    import importlib

    reg = Registry()
    for name in HANDLER_MODULES:
        module = importlib.import_module(name)
        for handler in getattr(module, "OPERATIONS", None) or (module.OPERATION,):
            if handler.command is not op.command:
                reg.register(handler)
    reg.register(op)
    return reg


async def test_one_sites_burst_does_not_make_other_sites_busy(runtime: Path) -> None:
    config = Config(runtime_dir=str(runtime))
    HeldVerify.gate = Gate()
    agent = Agent(config, TokenManager([]), HeadlessUI(), registry=registry_with(HeldVerify()))
    async for pipe in serve(agent, config):
        burst = 70  # more than a whole connection used to hold (64)
        for n in range(burst):
            await pipe.send(f"a{n}", "verify", SITE_A)
        await asyncio.sleep(0.3)
        other = await pipe.call("b", "hello", SITE_B)
        assert other["ok"] is True, other
        busy = [pipe.replies.pop(f"a{n}") for n in range(burst) if f"a{n}" in pipe.replies]
        assert len(busy) == burst - MAX_IN_FLIGHT_PER_ORIGIN
        assert all(r["error"]["code"] == "BUSY" for r in busy)
        HeldVerify.gate.event.set()
        done = [await pipe.reply(f"a{n}") for n in range(burst) if f"a{n}" not in {r["id"] for r in busy}]
        assert all(r["ok"] for r in done) and len(done) == MAX_IN_FLIGHT_PER_ORIGIN
        again = await pipe.call("a-again", "verify", SITE_A)
        assert again["ok"] is True  # the cap is released with the responses


async def test_one_site_over_its_rate_is_busy_on_the_shared_connection(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the extension's one connection, a site sending too fast gets BUSY; another site's
    request on the same connection is still answered."""
    from sceau.transports import ipc

    monkeypatch.setattr(ipc, "ORIGIN_RATE_BURST", 3)
    monkeypatch.setattr(ipc, "ORIGIN_RATE_PER_SECOND", 0.001)
    config = Config(runtime_dir=str(runtime))
    async for pipe in serve(Agent(config, TokenManager([]), HeadlessUI()), config):
        answers = [await pipe.call(f"a{n}", "hello", SITE_A) for n in range(5)]
        assert [r["ok"] for r in answers] == [True, True, True, False, False], answers
        assert answers[3]["error"]["code"] == "BUSY"
        other = await pipe.call("b", "hello", SITE_B)
        assert other["ok"] is True, other
