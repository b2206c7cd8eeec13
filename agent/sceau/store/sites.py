"""Trusted sites: which origin may use which operation class without asking "first use" again.

One JSON file in the data dir (`sites.json`), shared by the agent (which checks it) and the
extension (whose `site-grant` / `site-revoke` / `site-list` commands the agent serves from it), so
revoking in one place revokes everywhere. Writes are atomic (temp file + fsync + rename) and
serialised by a lock (threads) and an advisory lock file (another process, e.g. the CLI); readers
reload the file when it changed on disk.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sceau.errors import InvalidInput, SceauError
from sceau.i18n import _
from sceau.protocol.codes import OperationKind
from sceau.protocol.origin import normalize_origin
from sceau.store.files import atomic_write, exclusive_lock
from sceau.store.managed import load_managed, managed_sites_path

FILE_NAME = "sites.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SiteGrant:
    """One origin allowed one operation class, since `granted_at` (UTC)."""

    origin: str
    operation: OperationKind
    granted_at: datetime
    managed: bool = False  # from the organisation's system file (store/managed.py): not revocable

    def to_json(self) -> dict[str, str | bool]:
        out: dict[str, str | bool] = {
            "origin": self.origin,
            "operation": self.operation.value,
            "grantedAt": self.granted_at.isoformat(),
        }
        if self.managed:
            out["managed"] = True
        return out


def site_key(origin: str) -> str:
    """The canonical origin a grant is stored under (the protocol core's normaliser; the agent has
    already applied its dev-mode rule to the origins it checks, so http://localhost is storable)."""
    try:
        return normalize_origin(origin, dev_mode=True)
    except SceauError:
        raise InvalidInput(_("Invalid site origin.")) from None


def operation_kind(operation: str | OperationKind) -> OperationKind:
    """The operation class named by `operation` (an OperationKind value)."""
    try:
        return OperationKind(operation)
    except ValueError:
        raise InvalidInput(_("Unknown operation: {name}.").format(name=str(operation)[:40])) from None


class TrustedSites:
    """The trusted sites store. All methods are thread-safe."""

    def __init__(
        self, data_dir: Path, *, clock: Callable[[], datetime] | None = None, managed_path: Path | None = None
    ) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self.managed_path = managed_path or managed_sites_path()
        self._managed: dict[str, frozenset[OperationKind]] = {}
        self._managed_stamp: tuple[int, int, int] | None = None
        self._managed_since = datetime.fromtimestamp(0, UTC)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._grants: dict[str, dict[OperationKind, datetime]] = {}
        self._stamp: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) of what we loaded
        self._listeners: list[Callable[[], None]] = []

    # -- queries -------------------------------------------------------------------------------

    def is_allowed(self, origin: str, operation: str | OperationKind) -> bool:
        """True when `origin` was granted the class of `operation` (and not revoked since)."""
        try:
            key = site_key(origin)
        except InvalidInput:
            return False
        kind = operation_kind(operation)
        with self._lock:
            self._refresh()
            return kind in self._grants.get(key, {}) or kind in self._managed.get(key, ())

    def list(self) -> list[SiteGrant]:
        """Every grant, sorted by origin then operation."""
        with self._lock:
            self._refresh()
            own = {
                (origin, kind): SiteGrant(origin, kind, when)
                for origin, ops in self._grants.items()
                for kind, when in ops.items()
            }
            for origin, kinds in self._managed.items():
                for kind in kinds:
                    own[(origin, kind)] = SiteGrant(origin, kind, self._managed_since, managed=True)
            return [own[k] for k in sorted(own)]

    # -- changes -------------------------------------------------------------------------------

    def grant(self, origin: str, operations: Iterable[str | OperationKind]) -> builtins.list[SiteGrant]:
        """Allow `origin` the given operation classes; an existing grant keeps its first date."""
        key = site_key(origin)
        kinds = [operation_kind(op) for op in operations]
        if not kinds:
            raise InvalidInput(_("No operation given for the site."))
        with self._transaction():
            ops = self._grants.setdefault(key, {})
            now = self._clock()
            for kind in kinds:
                ops.setdefault(kind, now)
            granted = [SiteGrant(key, k, ops[k]) for k in sorted(set(kinds))]
        self._notify()
        return granted

    def revoke(self, origin: str, operations: Iterable[str | OperationKind] | None = None) -> int:
        """Withdraw some operation classes (all when `operations` is None); returns how many went."""
        key = site_key(origin)
        kinds = None if operations is None else {operation_kind(op) for op in operations}
        with self._transaction():
            ops = self._grants.get(key, {})
            gone = [k for k in ops if kinds is None or k in kinds]
            managed = self._managed.get(key, frozenset())
            if not gone and (managed if kinds is None else managed & kinds):
                raise InvalidInput(
                    _("{origin} is managed by your organisation: it cannot be revoked here.").format(origin=key)
                )
            for k in gone:
                del ops[k]
            if not ops:
                self._grants.pop(key, None)
        if gone:
            self._notify()
        return len(gone)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each change made through this object (tray menu refresh)."""
        self._listeners.append(callback)

    # -- storage -------------------------------------------------------------------------------

    def _notify(self) -> None:
        for cb in list(self._listeners):
            cb()

    def _disk_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        # Each write is a rename, so the inode changes even when mtime granularity hides it.
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        """Reload when the file changed on disk (another process granted or revoked)."""
        try:
            st = self.managed_path.stat()
            managed_stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            managed_stamp = None
        if managed_stamp != self._managed_stamp:
            self._managed = load_managed(self.managed_path) if managed_stamp else {}
            self._managed_since = datetime.fromtimestamp(st.st_mtime if managed_stamp else 0, UTC)
            self._managed_stamp = managed_stamp
        stamp = self._disk_stamp()
        if stamp == self._stamp:
            return
        self._grants = self._read()
        self._stamp = stamp

    def _read(self) -> dict[str, dict[OperationKind, datetime]]:
        try:
            raw: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            # A damaged file must not grant anything; it is rewritten on the next change.
            return {}
        out: dict[str, dict[OperationKind, datetime]] = {}
        sites = raw.get("sites") if isinstance(raw, dict) else None
        if not isinstance(sites, dict):
            return {}
        for origin, ops in sites.items():
            if not isinstance(ops, dict):
                continue
            try:
                key = site_key(origin)
            except InvalidInput:
                continue
            for name, when in ops.items():
                try:
                    kind = OperationKind(name)
                    stamp = datetime.fromisoformat(when)
                except (ValueError, TypeError):
                    continue
                out.setdefault(key, {})[kind] = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        return out

    def _write(self) -> None:
        data = {
            "version": FORMAT_VERSION,
            "sites": {
                origin: {k.value: when.isoformat() for k, when in sorted(ops.items())}
                for origin, ops in sorted(self._grants.items())
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Temp file (0600) + fsync + rename + directory fsync: readers never see a torn file.
        atomic_write(self.path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        self._stamp = self._disk_stamp()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Read-modify-write under the thread lock and the inter-process file lock."""
        with self._lock, exclusive_lock(self.path.with_name(FILE_NAME + ".lock")):
            self._stamp = None  # always re-read under the lock: another process may have written
            self._refresh()
            yield
            self._write()
