"""Finding 9, the smaller items: each fixed, each with the test that failed before."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sceau.app import Agent
from sceau.config import Config
from sceau.devkit import pki as devpki
from sceau.devkit.pki import DevPki
from sceau.errors import SceauError
from sceau.protocol.framing import encode_frame
from sceau.protocol.origin import normalize_origin
from sceau.store.journal import Journal
from sceau.store.sites import TrustedSites
from sceau.tokens.pkcs12 import Pkcs12Backend
from sceau.tokens.registry import TokenManager
from sceau.transports import ipc
from sceau.transports.ipc import IpcServer, socket_path
from sceau.transports.websocket import WebSocketServer
from sceau.ui.headless import HeadlessUI

ORIGIN = "https://marches.example.fr"


def request(cmd: str, args: dict[str, Any] | None = None, origin: str = ORIGIN) -> dict[str, Any]:
    return {"v": 1, "id": "r", "cmd": cmd, "origin": origin, "args": args or {}}


@pytest.mark.parametrize("origin", ["https://a.fr\n", "https://a.fr\r\n", "\nhttps://a.fr"])
def test_origin_with_a_newline_is_refused(origin: str) -> None:
    with pytest.raises(SceauError):
        normalize_origin(origin, dev_mode=False)


async def test_unknown_request_arguments_are_refused() -> None:
    agent = Agent(Config(), TokenManager([]), HeadlessUI())
    try:
        resp = await agent.handle(request("list-certificates", {"role": "sign", "rôle": "auth"}))
        assert resp["error"]["code"] == "BAD_REQUEST" and "rôle" in resp["error"]["message"], resp
        resp = await agent.handle(request("hello", {"verbose": True}))
        assert resp["error"]["code"] == "BAD_REQUEST"
        assert (await agent.handle(request("hello")))["ok"] is True
    finally:
        agent.close()


def p12_manager(pki: DevPki) -> TokenManager:
    files = [Path(pki["sign-rsa2048"].p12)]
    return TokenManager([Pkcs12Backend(files, {f: devpki.P12_PASSWORD for f in files})])


async def test_journal_names_the_granted_site_and_sign_hash_digests(pki: DevPki, tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    ui = HeadlessUI(approve=True)
    sites = TrustedSites(tmp_path)
    agent = Agent(Config(data_dir=str(tmp_path)), p12_manager(pki), ui, journal=journal, sites=sites)
    try:
        resp = await agent.handle(request("site-grant", {"origin": ORIGIN, "operations": ["sign"]}, origin=""))
        assert resp["ok"], resp
        digest = hashlib.sha384(b"acte").digest()
        args = {"hash": base64.b64encode(digest).decode(), "hashAlgorithm": "sha384", "documentName": "acte.pdf"}
        resp = await agent.handle(request("sign-hash", args))
        assert resp["ok"], resp
    finally:
        agent.close()
    lines = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    grant, signed = lines[-2], lines[-1]
    assert grant["operation"] == "site-grant" and grant["origin"] == ORIGIN
    (doc,) = signed["documents"]
    assert doc == {"name": "acte.pdf", "size": None, "digest": digest.hex(), "digestAlgorithm": "sha384"}
    assert "sha256" not in doc
    assert signed["durationMs"] > 0
    assert [r.documents[0].digest_algorithm for r in journal.read() if r.documents] == ["sha384"]


async def test_duplicate_host_or_origin_headers_get_400() -> None:
    cfg = Config(websocket_allowed_origins=(ORIGIN,))
    agent = Agent(cfg, TokenManager([]), HeadlessUI())
    srv = WebSocketServer(agent, cfg, port=0)
    await srv.start()
    try:
        for headers in (
            f"Host: 127.0.0.1:{srv.port}\r\nHost: evil.example\r\nOrigin: {ORIGIN}\r\n",
            f"Host: 127.0.0.1:{srv.port}\r\nOrigin: {ORIGIN}\r\nOrigin: https://evil.example\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(
                (
                    "GET / HTTP/1.1\r\n" + headers + "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 5)
            assert status.startswith(b"HTTP/1.1 400"), status
            writer.close()
    finally:
        await srv.close()
        agent.close()


@pytest.fixture
def runtime() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sc-small-"))
    yield path / "run"
    shutil.rmtree(path, ignore_errors=True)


async def test_a_client_stalled_mid_frame_is_dropped(runtime: Path) -> None:
    config = Config(runtime_dir=str(runtime))
    agent = Agent(config, TokenManager([]), HeadlessUI())
    server = IpcServer(agent, config)
    server.stall_timeout_s = 0.5
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(socket_path(config)))
        frame = encode_frame(request("hello"))
        writer.write(frame[:-3])  # all but the last bytes, then nothing
        await writer.drain()
        assert await asyncio.wait_for(reader.read(1), 5) == b""  # the agent closed it
        # An idle client between frames is left alone (the extension's persistent port).
        reader, writer = await asyncio.open_unix_connection(str(socket_path(config)))
        await asyncio.sleep(1.0)
        writer.write(frame)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(4), 5) != b""
        writer.close()
    finally:
        await server.close()
        agent.close()


def test_stall_timeout_default() -> None:
    assert 0 < ipc.STALL_TIMEOUT_S <= 60
