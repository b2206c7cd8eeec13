"""Sites the organisation allows for every user: a system file written by IT, read-only for the agent.

Format (docs/deployment.md): `{"version": 1, "sites": {"https://marches.exemple.fr": ["authenticate", "sign"]}}`.
These grants show as "managed by your organisation" and cannot be revoked by the user. A damaged file
grants nothing (and the user's own grants still apply).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from sceau.errors import SceauError
from sceau.protocol.codes import OperationKind
from sceau.protocol.origin import normalize_origin

MANAGED_ENV = "SCEAU_MANAGED_SITES"  # another file (tests, non-standard layouts)


def managed_sites_path() -> Path:
    """`$SCEAU_MANAGED_SITES`, else the platform's system configuration folder."""
    if os.environ.get(MANAGED_ENV):
        return Path(os.environ[MANAGED_ENV])
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Sceau" / "sites.json"
    if sys.platform == "darwin":
        return Path("/Library/Application Support/Sceau/sites.json")
    return Path("/etc/sceau/sites.json")


def load_managed(path: Path) -> dict[str, frozenset[OperationKind]]:
    """Origin → operation classes; unknown origins or operations are skipped, a bad file is empty."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    sites = raw.get("sites") if isinstance(raw, dict) else None
    if not isinstance(sites, dict):
        return {}
    out: dict[str, frozenset[OperationKind]] = {}
    for origin, ops in sites.items():
        if not isinstance(origin, str) or not isinstance(ops, list):
            continue
        try:
            key = normalize_origin(origin, dev_mode=False)  # https only: IT grants production sites
        except SceauError:  # not an https origin: skip the entry, keep the others
            continue
        kinds = set()
        for op in ops:
            try:
                kinds.add(OperationKind(op))
            except ValueError:
                continue
        if kinds:
            out[key] = frozenset(kinds) | out.get(key, frozenset())
    return out
