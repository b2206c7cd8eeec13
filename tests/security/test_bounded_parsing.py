"""Findings 1 and 2: hostile files are parsed in a bounded worker process, never on the event loop;
deep nesting and pathological structures are INVALID_INPUT (agent, CLI), never a traceback or a hang."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sceau.app import Agent
from sceau.config import Config
from sceau.devkit import pki as devpki
from sceau.devkit.pki import DevPki
from sceau.errors import InvalidInput
from sceau.formats.verify_job import verify_isolated
from sceau.formats.worker import Budget, WorkerPool
from sceau.protocol.constants import ExitCode
from sceau.protocol.framing import FrameDecoder, encode_frame
from sceau.store.sites import TrustedSites
from sceau.tokens.registry import TokenManager
from sceau.transports.ipc import IpcServer, socket_path
from sceau.ui.headless import HeadlessUI
from tests.formats.pdfs import make_pdf
from tests.security.hostile import dag_pdf, deep_pdf


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def verify_request(rid: str, origin: str, data: bytes) -> dict[str, Any]:
    return {"v": 1, "id": rid, "cmd": "verify", "origin": origin, "args": {"document": {"data": b64(data)}}}


def sceau(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sceau.cli", *args], capture_output=True, text=True, env=env, check=False, timeout=120
    )


async def test_worker_abandons_a_dag_pdf_on_its_budget() -> None:
    pool = WorkerPool(1, Budget(timeout_s=2))
    try:
        started = time.monotonic()
        with pytest.raises(InvalidInput, match="too complex"):
            await verify_isolated(pool, dag_pdf(), "dag.pdf", [])
        assert time.monotonic() - started < 10
        # The killed worker is replaced: the pool still verifies an ordinary file.
        outcome = await verify_isolated(pool, make_pdf(), "plain.pdf", [])
        assert outcome.report["format"] == "pades" and outcome.report["signatures"] == []
    finally:
        pool.close()


async def test_deep_pdf_is_invalid_input_through_the_agent(caplog: pytest.LogCaptureFixture) -> None:
    agent = Agent(Config(), TokenManager([]), HeadlessUI())
    try:
        resp = await agent.handle(verify_request("d", "https://a.fr", deep_pdf()))
        assert resp["ok"] is False and resp["error"]["code"] == "INVALID_INPUT", resp
        assert "imbriqué" in resp["error"]["message"] or "nested" in resp["error"]["message"]
        assert "Traceback" not in caplog.text
    finally:
        agent.close()


async def test_verify_needs_a_site_grant(tmp_path: Path) -> None:
    sites = TrustedSites(tmp_path)
    agent = Agent(Config(data_dir=str(tmp_path)), TokenManager([]), HeadlessUI(), sites=sites)
    try:
        resp = await agent.handle(verify_request("v", "https://a.fr", make_pdf()))
        assert resp["error"]["code"] == "ORIGIN_NOT_ALLOWED", resp
        sites.grant("https://a.fr", ["verify"])
        resp = await agent.handle(verify_request("v", "https://a.fr", make_pdf()))
        assert resp["ok"] is True, resp
    finally:
        agent.close()


@pytest.fixture
def runtime() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sc-sec-"))  # short: Unix socket paths are limited
    yield path / "run"
    shutil.rmtree(path, ignore_errors=True)


async def test_hello_from_another_origin_within_100ms_while_a_hostile_pdf_is_verified(runtime: Path) -> None:
    config = Config(runtime_dir=str(runtime), parse_timeout_s=4)
    agent = Agent(config, TokenManager([]), HeadlessUI())
    server = IpcServer(agent, config)
    await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(socket_path(config)))
        decoder = FrameDecoder(1 << 26)
        replies: dict[str, tuple[float, dict[str, Any]]] = {}

        async def pump() -> None:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                for body in decoder.feed(data):
                    msg = json.loads(body)
                    replies[msg["id"]] = (time.monotonic(), msg)

        pumping = asyncio.create_task(pump())
        writer.write(encode_frame(verify_request("hostile", "https://attaquant.fr", dag_pdf())))
        await writer.drain()
        await asyncio.sleep(1.5)  # the worker is started and deep in the field tree by now
        assert "hostile" not in replies
        for n in range(5):
            sent = time.monotonic()
            rid = f"hello{n}"
            hello = {"v": 1, "id": rid, "cmd": "hello", "origin": "https://marches.example.fr"}
            writer.write(encode_frame(hello))
            await writer.drain()
            while rid not in replies:
                await asyncio.sleep(0.002)
                assert time.monotonic() - sent < 2
            got, msg = replies[rid]
            assert msg["ok"] is True
            assert got - sent < 0.1, f"hello answered in {got - sent:.3f} s"
        while "hostile" not in replies:
            await asyncio.sleep(0.05)
        assert replies["hostile"][1]["error"]["code"] == "INVALID_INPUT"
        pumping.cancel()
        writer.close()
    finally:
        await server.close()
        agent.close()


def test_cli_verify_exit_codes_tell_unreadable_from_invalid(tmp_path: Path) -> None:
    deep = tmp_path / "profond.pdf"
    deep.write_bytes(deep_pdf())
    res = sceau("verify", str(deep))
    assert res.returncode == ExitCode.UNREADABLE, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "INVALID_INPUT" in res.stderr
    res = sceau("verify", str(tmp_path / "absent.p7s"))
    assert res.returncode == ExitCode.UNREADABLE
    garbage = tmp_path / "abime.p7s"
    garbage.write_bytes(b"\x30\x82\x01\x00" + b"\x00" * 40)
    res = sceau("verify", str(garbage))
    assert res.returncode == ExitCode.UNREADABLE, res.stdout + res.stderr
    # A readable file whose signature is not valid (no trust anchor) stays INVALID.
    plain = tmp_path / "non-signe.pdf"
    plain.write_bytes(make_pdf())
    res = sceau("verify", str(plain))
    assert res.returncode == ExitCode.INVALID, res.stdout + res.stderr


def test_cli_sign_pades_of_a_deep_pdf_is_invalid_input(pki: DevPki, tmp_path: Path) -> None:
    env = dict(os.environ, SCEAU_PW=devpki.P12_PASSWORD)
    deep = tmp_path / "profond.pdf"
    deep.write_bytes(deep_pdf())
    res = sceau(
        "sign",
        "--format",
        "pades",
        "--pkcs12",
        pki["sign-rsa2048"].p12,
        "--password-env",
        "SCEAU_PW",
        "--yes",
        "-o",
        str(tmp_path / "out.pdf"),
        str(deep),
        env=env,
    )
    assert res.returncode == ExitCode.ERROR, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "INVALID_INPUT" in res.stderr + res.stdout
    assert not (tmp_path / "out.pdf").exists()


def test_native_host_refuses_deep_json_cleanly() -> None:
    from sceau_native_host.relay import Relay

    # Below the relay's fast-path size the host parses the frame itself: deep nesting is refused there.
    deep = b'{"v":1,"id":"x","cmd":"hello","args":' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    to_agent, to_browser = Relay(1 << 26).from_browser(deep)
    assert to_agent is None and to_browser is not None
    reply = json.loads(to_browser[4:])
    assert reply["error"]["code"] == "BAD_REQUEST"
    # A large frame is relayed unparsed (upload chunks are parsed once, by the agent, which refuses it:
    # test_deep_json_through_the_agent_is_bad_request); the host itself never raises.
    deeper = b'{"v":1,"id":"y","cmd":"hello","args":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    to_agent, to_browser = Relay(1 << 26).from_browser(deeper)
    assert (to_agent is None) != (to_browser is None)


async def test_deep_json_through_the_agent_is_bad_request() -> None:
    agent = Agent(Config(), TokenManager([]), HeadlessUI())
    try:
        resp = await agent.handle(b'{"v":1,"id":"x","cmd":"hello","args":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
        assert resp["error"]["code"] == "BAD_REQUEST"
    finally:
        agent.close()


async def test_idle_workers_are_stopped() -> None:
    pool = WorkerPool(1, Budget(timeout_s=20), idle_s=0.5)
    try:
        await verify_isolated(pool, make_pdf(), "plain.pdf", [])
        assert pool.idle_workers == 1  # kept warm for the next file...
        await asyncio.sleep(1.0)
        assert pool.idle_workers == 0  # ...then stopped: the idle agent stays small
    finally:
        pool.close()
