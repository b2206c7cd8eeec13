"""docs/configuration.md documents every configuration key."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from sceau.config import Config, Limits

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_key_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    keys = [f.name for f in fields(Config) if f.name != "limits"] + [f.name for f in fields(Limits)]
    missing = [k for k in keys if f"| `{k}` |" not in text]
    assert not missing, f"undocumented configuration keys: {missing}"


def test_documented_defaults_match() -> None:
    text = DOC.read_text(encoding="utf-8")
    for f in fields(Limits):
        default = getattr(Limits(), f.name)
        assert f"| `{f.name}` | " in text and f"`{default}`" in text, f.name
