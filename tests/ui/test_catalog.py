"""French catalog: every `_()` msgid in agent/ translated, placeholders kept, PO syntax valid."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sceau.i18n import CATALOG_DIR, catalog

AGENT = Path(__file__).resolve().parents[2] / "agent"
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def msgids() -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(AGENT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("_", "gettext")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                out.setdefault(node.args[0].value, str(path.relative_to(AGENT)))
    return out


def test_every_message_has_a_french_translation() -> None:
    fr = catalog("fr")
    missing = {m: where for m, where in msgids().items() if m not in fr}
    assert not missing, f"{len(missing)} untranslated: " + "; ".join(
        f"{w}: {m!r}" for m, w in list(missing.items())[:20]
    )


def test_placeholders_kept() -> None:
    fr = catalog("fr")
    wrong = [m for m in msgids() if m in fr and sorted(PLACEHOLDER.findall(m)) != sorted(PLACEHOLDER.findall(fr[m]))]
    assert not wrong, wrong


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext not installed")
def test_po_files_compile_with_msgfmt(tmp_path: Path) -> None:
    for po in sorted((CATALOG_DIR / "fr" / "LC_MESSAGES").glob("sceau.po")):
        out = subprocess.run(
            ["msgfmt", "--check", "-o", str(tmp_path / "x.mo"), str(po)], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
