"""Fixtures for the demo platform (examples/, imported from the repository root like the tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from examples.platform import create_app
from sceau.devkit.pki import DevPki
from tests.examples.platform_testkit import ORIGIN, Login, make_auth_token


@pytest.fixture
async def client(pki: DevPki, tmp_path: Path) -> AsyncIterator[TestClient]:
    app = create_app(pki, origin=ORIGIN, storage=tmp_path / "plis")
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture
def login(pki: DevPki) -> Login:
    async def do(client: TestClient, identity: str) -> Any:
        nonce = (await (await client.post("/api/defi")).json())["nonce"]
        resp = await client.post(
            "/api/connexion", json={"nonce": nonce, "token": make_auth_token(pki, identity, ORIGIN, nonce)}
        )
        assert resp.status == 200, await resp.text()
        return (await resp.json())["user"]

    return do
