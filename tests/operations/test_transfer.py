"""Chunked transfers: order, caps, expiry, deletion after download, per-connection cleanup."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from sceau.config import Config, Limits
from sceau.errors import BadRequest, TooLarge
from sceau.operations.context import Connection, OperationContext
from sceau.operations.transfer import OPERATIONS, resolve_document
from sceau.protocol.constants import DOWNLOAD_CHUNK
from sceau.store.transfers import EXPIRY_S, MAX_AHEAD, MAX_TRANSFERS, TransferStore
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.registry import TokenManager
from sceau.ui.headless import HeadlessUI

UPLOAD, FETCH = OPERATIONS


def _ctx(connection: Connection, limits: Limits | None = None) -> OperationContext:
    return OperationContext(
        origin="https://marches.example.fr",
        ui=HeadlessUI(),
        tokens=TokenManager([]),
        config=Config(limits=limits or Limits()),
        executor=TokenExecutor(),
        connection=connection,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _upload(ctx: OperationContext, data: bytes, chunk: int) -> dict[str, Any]:
    tid = None
    parts = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    result: dict[str, Any] = {}
    for i, part in enumerate(parts):
        args: dict[str, Any] = {"index": i, "data": _b64(part), "final": i == len(parts) - 1, "name": "offre.pdf"}
        if tid:
            args["transfer"] = tid
        result = await UPLOAD.run(ctx, UPLOAD.parse(args))
        tid = result["transfer"]
    return result


def test_upload_then_resolve() -> None:
    conn = Connection()
    ctx = _ctx(conn)
    data = bytes(range(256)) * 5000

    async def go() -> None:
        res = await _upload(ctx, data, 300_000)
        assert res["complete"] and res["size"] == len(data)
        store, t = await resolve_document(ctx, {"transfer": res["transfer"]})
        assert t.path.read_bytes() == data and t.name == "offre.pdf"
        store.release(t.id)
        with pytest.raises(BadRequest):
            await resolve_document(ctx, {"transfer": res["transfer"]})

    asyncio.run(go())
    conn.close()


def test_chunks_must_be_in_order() -> None:
    ctx = _ctx(Connection())

    async def go() -> None:
        first = await UPLOAD.run(ctx, UPLOAD.parse({"index": 0, "data": _b64(b"a")}))
        with pytest.raises(BadRequest):  # beyond the chunks a pipelined page may have in flight
            args = {"index": MAX_AHEAD + 1, "data": _b64(b"b"), "transfer": first["transfer"]}
            await UPLOAD.run(ctx, UPLOAD.parse(args))
        with pytest.raises(BadRequest):
            await UPLOAD.run(ctx, UPLOAD.parse({"index": 1, "data": _b64(b"b")}))  # no id: must be chunk 0
        with pytest.raises(BadRequest):  # not sealed yet
            await resolve_document(ctx, {"transfer": first["transfer"]})

    asyncio.run(go())


def test_size_caps() -> None:
    ctx = _ctx(Connection(), Limits(max_document_bytes=1000, max_total_bytes=1500))

    async def go() -> None:
        with pytest.raises(TooLarge):
            await _upload(ctx, b"x" * 1200, 500)
        await _upload(ctx, b"x" * 900, 500)
        with pytest.raises(TooLarge):
            await _upload(ctx, b"y" * 900, 500)

    asyncio.run(go())


def test_too_many_transfers_and_bad_args() -> None:
    store = TransferStore(Limits())
    for _ in range(MAX_TRANSFERS):
        store.upload_chunk(None, 0, b"a", False)
    with pytest.raises(TooLarge):
        store.upload_chunk(None, 0, b"a", False)
    with pytest.raises(BadRequest):
        UPLOAD.parse({"index": -1, "data": ""})
    with pytest.raises(BadRequest):
        UPLOAD.parse({"index": 0, "data": "***"})
    with pytest.raises(BadRequest):
        FETCH.parse({"index": 0})
    store.close()
    assert not store.root.exists()


def test_expiry() -> None:
    now = [0.0]
    store = TransferStore(Limits(), clock=lambda: now[0])
    tid = store.upload_chunk(None, 0, b"abc", True)["transfer"]
    now[0] = EXPIRY_S + 1
    store.upload_chunk(None, 0, b"other", False)  # any access sweeps expired transfers
    with pytest.raises(BadRequest):
        store.completed_upload(tid)
    assert len(list(store.root.iterdir())) == 1
    store.close()


def test_download_in_chunks_then_deleted(tmp_path: Path) -> None:
    conn = Connection()
    ctx = _ctx(conn)
    store = conn.transfers(ctx.config.limits)
    data = b"z" * (2 * DOWNLOAD_CHUNK + 10)
    out = store.new_output_path()
    out.write_bytes(data)
    desc = store.add_download(out, "resultat.pdf")
    assert desc["chunks"] == 3 and desc["size"] == len(data)

    async def go() -> bytes:
        got = b""
        for i in range(desc["chunks"]):
            res = await FETCH.run(ctx, FETCH.parse({"transfer": desc["transfer"], "index": i}))
            assert res["final"] == (i == 2)
            got += base64.b64decode(res["data"])
            assert len(res["data"]) < 1_000_000  # Chrome's host → extension message cap
        with pytest.raises(BadRequest):
            await FETCH.run(ctx, FETCH.parse({"transfer": desc["transfer"], "index": 0}))
        return got

    assert asyncio.run(go()) == data
    assert list(store.root.iterdir()) == []
    root = store.root
    conn.close()
    assert not root.exists()


def test_every_download_carries_its_sha256(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    from sceau.config import Limits
    from sceau.store.transfers import TransferStore

    store = TransferStore(Limits())
    try:
        f = tmp_path / "plain.bin"
        f.write_bytes(b"x" * 3_000_000)
        desc = store.add_download(f, "plain.bin")
        assert desc["sha256"] == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    finally:
        store.close()
