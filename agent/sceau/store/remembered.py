"""Sites the user chose to "remember" for authentication: no consent dialog next time.

Only authentication may be remembered (DESIGN.md §4.3: every other key use is confirmed). A
remembered pair (origin, certificate fingerprint) counts only while the site still holds its
authentication grant, so revoking the site — from the tray or the extension — forgets it too.
The PIN is still asked by the token when it is not logged in.
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Any

from sceau.protocol.codes import OperationKind
from sceau.store.files import atomic_write

MAX_ENTRIES = 500


class RememberedAuth:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path  # None: for this agent session only (CLI, tests)
        self._lock = threading.Lock()
        self._pairs: set[tuple[str, str]] = set()
        if path is not None:
            with contextlib.suppress(OSError, ValueError, TypeError):
                data = json.loads(path.read_text(encoding="utf-8"))
                self._pairs = {(str(o), str(f)) for o, f in data.get("remembered", [])[:MAX_ENTRIES]}

    def is_remembered(self, origin: str, fingerprint: str, sites: Any = None) -> bool:
        with self._lock:
            if (origin, fingerprint) not in self._pairs:
                return False
        return sites is None or bool(sites.is_allowed(origin, OperationKind.AUTHENTICATE))

    def remember(self, origin: str, fingerprint: str) -> None:
        with self._lock:
            if len(self._pairs) >= MAX_ENTRIES:
                return
            self._pairs.add((origin, fingerprint))
            self._save()

    def forget(self, origin: str) -> None:
        with self._lock:
            self._pairs = {p for p in self._pairs if p[0] != origin}
            self._save()

    def prune(self, sites: Any) -> None:
        """Forget the sites that lost their authentication grant (called when grants change),
        so granting a site again later does not bring back an old "remember"."""
        with self._lock:
            kept = {p for p in self._pairs if sites.is_allowed(p[0], OperationKind.AUTHENTICATE)}
            if kept != self._pairs:
                self._pairs = kept
                self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"version": 1, "remembered": sorted(self._pairs)}, indent=1).encode()
        atomic_write(self.path, body)  # private temp file (0600) renamed into place
