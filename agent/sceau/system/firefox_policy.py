"""Firefox's enterprise policy `SecurityDevices` (policies.json): the token module for every profile.

Firefox loads the modules listed under `SecurityDevices` → `Add` at start-up and copies them into each
profile's NSS database; names under `Delete` are removed from the profiles. Sceau edits only its own
entries (names starting with `Sceau (`) and leaves every other policy as it was.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sceau.errors import InvalidInput
from sceau.i18n import _
from sceau.store.files import atomic_write
from sceau.system.tls_login import FIX_COMMAND, SCEAU_PREFIX, ChosenModule, Outcome, Status

DEFAULT_FIREFOX_POLICIES = Path("/etc/firefox/policies/policies.json")  # Debian firefox-esr and firefox


def _read_policies(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"policies": {}}
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            _("{path} is not valid JSON ({detail}): fix it by hand, Sceau does not overwrite it.").format(
                path=path, detail=exc
            )
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.setdefault("policies", {}), dict):
        raise InvalidInput(_('{path} has no "policies" object: fix it by hand.').format(path=path))
    return data


def _security_devices(policies: dict[str, Any]) -> dict[str, Any]:
    devices = policies.setdefault("SecurityDevices", {})
    if not isinstance(devices, dict):
        raise InvalidInput(_("SecurityDevices in policies.json is not an object: fix it by hand."))
    return devices


def _write_policies(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())
        path.chmod(0o644)
    except PermissionError as exc:
        raise InvalidInput(
            _("Writing {path} needs administrator rights: sudo {command} --system").format(
                path=path, command=FIX_COMMAND
            )
        ) from exc


def enable_firefox_policy(path: Path, modules: Sequence[ChosenModule]) -> Outcome:
    """Add the modules to `SecurityDevices` (the "Add"/"Delete" form; the older flat form is kept
    if the file already uses it). Other policies are left untouched."""
    label = _("Firefox policy {path}").format(path=path)
    data = _read_policies(path)
    devices = _security_devices(data["policies"])
    flat = bool(devices) and not ({"Add", "Delete"} & devices.keys())
    table: dict[str, Any] = devices if flat else devices.setdefault("Add", {})
    wanted = {m.name: m.library for m in modules}
    ours = {n: v for n, v in table.items() if n.startswith(SCEAU_PREFIX)}
    if ours == wanted:
        names = ", ".join(wanted)
        return Outcome(label, Status.ALREADY, _("already registered ({name})").format(name=names))
    for name in ours:
        del table[name]
    table.update(wanted)
    if not flat and isinstance(devices.get("Delete"), list):
        devices["Delete"] = [n for n in devices["Delete"] if n not in wanted]
        if not devices["Delete"]:
            del devices["Delete"]
    _write_policies(path, data)
    return Outcome(label, Status.ADDED, _("{name} added; restart Firefox").format(name=", ".join(wanted)))


def disable_firefox_policy(path: Path, *, forget: bool = False) -> Outcome:
    """Drop Sceau's entries and list them under "Delete", so Firefox also removes the module it
    copied into each profile's database. `forget` (package removal): leave no Sceau name at all,
    not even under "Delete" — the profiles then keep their copy, the file keeps nothing of ours."""
    label = _("Firefox policy {path}").format(path=path)
    if not path.exists():
        return Outcome(label, Status.ABSENT, _("nothing registered by Sceau"))
    data = _read_policies(path)
    devices = _security_devices(data["policies"])
    flat = not ({"Add", "Delete"} & devices.keys())
    table: dict[str, Any] = devices if flat else devices.get("Add", {})
    ours = [n for n in table if n.startswith(SCEAU_PREFIX)]
    if forget:
        return _forget(path, data, ours, label)
    if not ours:
        return Outcome(label, Status.ABSENT, _("nothing registered by Sceau"))
    for name in ours:
        del table[name]
    if flat:
        data["policies"]["SecurityDevices"] = {"Add": dict(table)} if table else {}
        devices = data["policies"]["SecurityDevices"]
    elif not table:
        devices.pop("Add", None)
    deleted = devices.setdefault("Delete", [])
    deleted.extend(n for n in ours if n not in deleted)
    _write_policies(path, data)
    return Outcome(label, Status.REMOVED, _("removed: {names}").format(names=", ".join(ours)))


def _forget(path: Path, data: dict[str, Any], ours: list[str], label: str) -> Outcome:
    policies = data["policies"]
    devices = _security_devices(policies)
    flat = not ({"Add", "Delete"} & devices.keys())
    tables = [devices] if flat else [t for t in (devices.get("Add"),) if isinstance(t, dict)]
    for table in tables:
        for name in [n for n in table if isinstance(n, str) and n.startswith(SCEAU_PREFIX)]:
            del table[name]
    deleted = devices.get("Delete")
    forgotten = list(ours)
    if isinstance(deleted, list):
        forgotten += [n for n in deleted if isinstance(n, str) and n.startswith(SCEAU_PREFIX) and n not in ours]
        devices["Delete"] = [n for n in deleted if not (isinstance(n, str) and n.startswith(SCEAU_PREFIX))]
    for key in ("Add", "Delete"):
        if key in devices and not devices[key]:
            del devices[key]
    if not forgotten:
        return Outcome(label, Status.ABSENT, _("nothing registered by Sceau"))
    if not devices:
        policies.pop("SecurityDevices", None)
    if policies:
        _write_policies(path, data)
    else:
        path.unlink()  # nothing but ours was in it
    return Outcome(label, Status.REMOVED, _("removed: {names}").format(names=", ".join(forgotten)))


def registered_in_policy(path: Path) -> list[str]:
    """Sceau's module names in a policies.json (for `sceau doctor`); unreadable files count as none."""
    with contextlib.suppress(InvalidInput):
        devices = _read_policies(path)["policies"].get("SecurityDevices", {})
        if isinstance(devices, dict):
            table = devices.get("Add", devices)
            if isinstance(table, dict):
                return [n for n in table if isinstance(n, str) and n.startswith(SCEAU_PREFIX)]
    return []
