"""The trusted-list cache in the data dir: the last lists that passed validation, and the outcome
of each attempt.

`trusted-lists/index.json` records, per list, its URL, when it was fetched, its SHA-256, sequence
number and NextUpdate, and the last error if the latest attempt was refused. A list file is only
ever replaced by one that passed every check, so a refused list keeps the previous one in use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sceau.errors import SceauError
from sceau.store.files import atomic_write, exclusive_lock
from sceau.trust import tsl
from sceau.trust.decide import CachedList, TrustLists

FOLDER = "trusted-lists"
INDEX = "index.json"
LOTL_KEY = "LOTL"


@dataclass
class Entry:
    url: str
    file: str = ""  # "" until a version passed validation
    fetched: str = ""  # ISO time of the version in use
    sha256: str = ""
    sequence: int = 0
    next_update: str = ""
    territory: str = ""
    error: str = ""  # the last attempt's refusal ("" when it succeeded)
    attempted: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Index:
    entries: dict[str, Entry] = field(default_factory=dict)
    last_refresh: str = ""  # last attempt, successful or not (the daily background refresh reads it)


def folder(data_dir: Path) -> Path:
    return Path(data_dir) / FOLDER


def read_index(data_dir: Path) -> Index:
    path = folder(data_dir) / INDEX
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = {k: Entry(**v) for k, v in raw.get("entries", {}).items()}
        return Index(entries, str(raw.get("last_refresh", "")))
    except (OSError, ValueError, TypeError):
        return Index()


def write_index(data_dir: Path, index: Index) -> None:
    body = {"last_refresh": index.last_refresh, "entries": {k: e.to_json() for k, e in index.entries.items()}}
    atomic_write(folder(data_dir) / INDEX, json.dumps(body, indent=2, sort_keys=True).encode())


def lock(data_dir: Path) -> Any:
    return exclusive_lock(folder(data_dir) / ".lock")


def store_list(data_dir: Path, key: str, data: bytes) -> tuple[str, str]:
    name = f"{key}.xml"
    atomic_write(folder(data_dir) / name, data)
    return name, hashlib.sha256(data).hexdigest()


def read_list(data_dir: Path, entry: Entry) -> bytes | None:
    """The bytes of the validated version, None when missing or not the ones validated."""
    if not entry.file:
        return None
    try:
        data = (folder(data_dir) / entry.file).read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == entry.sha256 else None


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


@lru_cache(maxsize=4)
def _load(data_dir: str, stamp: tuple[int, int]) -> tuple[CachedList, ...]:
    index = read_index(Path(data_dir))
    out: list[CachedList] = []
    for key, entry in sorted(index.entries.items()):
        if key == LOTL_KEY:
            continue
        data = read_list(Path(data_dir), entry)
        if data is None:
            continue
        try:
            parsed = tsl.parse(data)
        except SceauError:
            continue
        out.append(CachedList(parsed, entry.url, _time(entry.fetched) or datetime.now(UTC), data))
    return tuple(out)


def load(data_dir: Path, rgs_policies: Mapping[str, str] | None = None) -> TrustLists | None:
    """The cached national lists (None when there is no cache); parsed once per index version."""
    path = folder(data_dir) / INDEX
    try:
        st = path.stat()
    except OSError:
        return None
    lists = _load(str(data_dir), (st.st_mtime_ns, st.st_size))
    lotl = read_index(data_dir).entries.get(LOTL_KEY)
    return TrustLists(lists, _time(lotl.fetched) if lotl else None, dict(rgs_policies or {}))
