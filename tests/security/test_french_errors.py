"""Finding 9, last item: page-visible error messages are French first (English available), including
those the sans-I/O protocol core raises (it cannot import the catalogs: `SceauError(params=...)`
messages are translated when read, through the translator `sceau.i18n` installs)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sceau.app import Agent
from sceau.config import Config
from sceau.errors import Busy
from sceau.i18n import catalog, current_language, set_language
from sceau.protocol.session import Session
from sceau.tokens.registry import TokenManager
from sceau.ui.headless import HeadlessUI

AGENT = Path(__file__).resolve().parents[2] / "agent"
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def templated_messages() -> dict[str, str]:
    """Every `SomeError("...", params=...)` in the agent: msgid → file."""
    out: dict[str, str] = {}
    for path in sorted(AGENT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and any(k.arg == "params" for k in node.keywords)
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                out.setdefault(node.args[0].value, str(path.relative_to(AGENT)))
    return out


@pytest.fixture
def language() -> Iterator[None]:
    previous = current_language()
    yield
    set_language(previous)


def test_every_templated_message_has_a_french_translation() -> None:
    found = templated_messages()
    assert len(found) >= 30  # the protocol core's messages among them
    fr = catalog("fr")
    missing = {m: w for m, w in found.items() if m not in fr}
    assert not missing, missing
    broken = [m for m in found if sorted(PLACEHOLDER.findall(m)) != sorted(PLACEHOLDER.findall(fr[m]))]
    assert not broken, broken


async def test_the_page_reads_protocol_errors_in_french_then_english(language: None) -> None:
    agent = Agent(Config(), TokenManager([]), HeadlessUI())
    request = {"v": 1, "id": "r", "cmd": "list-certificates", "origin": "https://a.fr", "args": {"role": 3}}
    try:
        set_language("fr")
        resp = await agent.handle(request)
        assert resp["error"] == {
            "code": "BAD_REQUEST",
            "message": "L'argument 'role' doit valoir l'une de ces valeurs : auth, encrypt, sign.",
        }
        resp = await agent.handle({**request, "v": 7})
        assert "n'est pas prise en charge" in resp["error"]["message"]
        set_language("en")
        resp = await agent.handle(request)
        assert resp["error"]["message"] == "Argument 'role' must be one of: auth, encrypt, sign."
    finally:
        agent.close()


def test_transport_refusals_are_translated(language: None) -> None:
    set_language("fr")
    refusal = Session.refusal(b'{"id": "x"}', Busy("Too many requests in flight for this site.", params={}))
    assert refusal["error"]["message"] == "Trop de requêtes en cours pour ce site."
