"""The page library's documented types match what the agent sends (docs/integration.md is generated
from extension/lib/types.js, so the wire's field names must be the ones there)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from sceau.protocol.auth_token import AuthToken
from sceau.tokens.base import CertificateEntry

TYPES = Path(__file__).resolve().parents[2] / "extension" / "lib" / "types.js"


def documented(typedef: str) -> set[str]:
    text = TYPES.read_text(encoding="utf-8")
    block = re.search(r"@typedef \{object\} " + typedef + r"\b(.*?)\*/", text, re.S)
    assert block, typedef
    return set(re.findall(r"@property \{[^}]*\} \[?(\w+)", block.group(1)))


def test_certificate_info_is_the_agent_summary() -> None:
    sent = set(re.findall(r'"(\w+)":', inspect.getsource(CertificateEntry.summary))) | {"certificate"}
    assert documented("CertificateInfo") == sent


def test_auth_token_fields() -> None:
    sent = set(re.findall(r'"(\w+)":', inspect.getsource(AuthToken.to_json)))
    assert documented("AuthToken") == sent


def test_demo_platform_serves_every_module_the_library_imports() -> None:
    from examples.platform.app import PAGE_LIBRARY

    lib = TYPES.parent
    wanted, todo = set(), ["sceau.js"]
    while todo:
        name = todo.pop()
        wanted.add(name)
        for dep in re.findall(r'^import .* from "\./([\w.]+)"', (lib / name).read_text(encoding="utf-8"), re.M):
            if dep not in wanted:
                todo.append(dep)
    assert wanted <= set(PAGE_LIBRARY), wanted - set(PAGE_LIBRARY)
