"""Finding 7: no silent authentication. "Remember this site" is off unless configured; when on, every
remembered sign-in shows a notice; `pin_every_authentication` asks the PIN each time (SoftHSM2)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from sceau.app import Agent
from sceau.config import Config
from sceau.devkit import softhsm
from sceau.store.remembered import RememberedAuth
from sceau.store.sites import TrustedSites
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.registry import TokenManager
from sceau.ui.api import ConsentDecision, ConsentRequest
from sceau.ui.headless import HeadlessUI

ORIGIN = "https://marches.example.fr"
NONCE = base64.b64encode(b"n" * 32).decode()


class UserWhoRemembers(HeadlessUI):
    """Ticks "remember" whenever it is offered; records notices."""

    def __init__(self) -> None:
        super().__init__(pin=softhsm.USER_PIN)
        self.notices: list[str] = []

    def confirm(self, request: ConsentRequest) -> ConsentDecision:
        self.consents.append(request)
        return ConsentDecision(approved=True, remember=request.can_remember)

    def notify(self, message: str) -> None:
        self.notices.append(message)


@pytest.fixture
def managers(softhsm_module: str) -> Iterator[list[TokenManager]]:
    made: list[TokenManager] = []
    yield made
    for m in made:
        m.close()


def agent(config: Config, ui: HeadlessUI, tmp_path: Path, managers: list[TokenManager], softhsm_module: str) -> Agent:
    managers.append(TokenManager([Pkcs11Backend([softhsm_module])], token_label=softhsm.TOKEN_LABEL))
    sites = TrustedSites(tmp_path)
    sites.grant(ORIGIN, ["authenticate", "list"])
    return Agent(config, managers[-1], ui, sites=sites, remembered=RememberedAuth(tmp_path / "remembered.json"))


def req(cmd: str, args: dict[str, object]) -> dict[str, object]:
    return {"v": 1, "id": "r", "cmd": cmd, "origin": ORIGIN, "args": args}


async def authenticate_twice(a: Agent) -> None:
    listed = await a.handle(req("list-certificates", {"role": "auth"}))
    handle = listed["result"]["certificates"][0]["id"]  # type: ignore[index]
    for _ in range(2):
        resp = await a.handle(req("authenticate", {"nonce": NONCE, "certificate": handle}))
        assert resp["ok"], resp


async def test_remembering_is_off_by_default(tmp_path: Path, managers: list[TokenManager], softhsm_module: str) -> None:
    ui = UserWhoRemembers()
    await authenticate_twice(agent(Config(), ui, tmp_path, managers, softhsm_module))
    assert len(ui.consents) == 2 and not any(c.can_remember for c in ui.consents)


async def test_a_remembered_sign_in_shows_a_notice(
    tmp_path: Path, managers: list[TokenManager], softhsm_module: str
) -> None:
    ui = UserWhoRemembers()
    await authenticate_twice(agent(Config(remember_authentication=True), ui, tmp_path, managers, softhsm_module))
    assert len(ui.consents) == 1  # the second one was remembered...
    assert len(ui.notices) == 1 and ORIGIN in ui.notices[0]  # ...and the user is told


async def test_pin_every_authentication(tmp_path: Path, managers: list[TokenManager], softhsm_module: str) -> None:
    ui = UserWhoRemembers()
    cfg = Config(pin_every_authentication=True)
    await authenticate_twice(agent(cfg, ui, tmp_path, managers, softhsm_module))
    assert len(ui.pin_requests) >= 2  # logged out before each authentication: the PIN each time
