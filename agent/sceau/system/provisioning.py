"""Install the extension for every user from a package: browser policies pointing at packaged files.

Chrome family (Linux): a managed policy file per browser, `ExtensionInstallForcelist` naming our id and
a `file://` update manifest whose codebase is the packaged CRX (an `external_crx` JSON in
/usr/share/chromium/extensions does not install it: DESIGN.md §7). Firefox: `ExtensionSettings` merged
into the one `policies.json` (other policies an administrator put there are kept); an unsigned XPI
also needs `xpinstall.signatures.required = false`, which only ESR and Debian-style builds honour, and
only a development build asks for it. What we added is recorded so removal takes back exactly that.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sceau.errors import SceauError
from sceau.i18n import _

POLICY_NAME = "sceau.json"
# Managed-policy folders read by each Chrome-family browser on Linux.
CHROME_POLICY_DIRS = {
    "chromium": "etc/chromium/policies/managed",
    "chrome": "etc/opt/chrome/policies/managed",
    "edge": "etc/opt/edge/policies/managed",
    "brave": "etc/brave/policies/managed",
}
FIREFOX_POLICIES = "etc/firefox/policies/policies.json"  # read by Mozilla's and Debian's builds
STATE_FILE = "var/lib/sceau/provisioned.json"
UNSIGNED_PREF = "xpinstall.signatures.required"


@dataclass(frozen=True)
class Packaged:
    """The packaged extension files (extension/tools/package.py output, installed in `directory`)."""

    directory: Path

    def ids(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.directory / "extension-ids.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SceauError(_("No packaged extension in {path}: {err}").format(path=self.directory, err=exc)) from None
        return data

    @property
    def chrome_id(self) -> str:
        return str(self.ids()["chrome"][0])

    @property
    def firefox_id(self) -> str:
        return str(self.ids()["firefox"][0])

    @property
    def xpi(self) -> Path:
        return self.directory / "sceau-firefox.xpi"

    def xpi_signed(self) -> bool:
        """A Mozilla-signed XPI carries META-INF/mozilla.rsa (or cose.sig)."""
        try:
            with zipfile.ZipFile(self.xpi) as zf:
                names = set(zf.namelist())
        except (OSError, zipfile.BadZipFile):
            return False
        return bool(names & {"META-INF/mozilla.rsa", "META-INF/cose.sig"})


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SceauError(_("{path} is not valid JSON ({err}); fix it first.").format(path=path, err=exc)) from None
    if not isinstance(data, dict):
        raise SceauError(_("{path} is not a JSON object; fix it first.").format(path=path))
    return data


def chrome_policy(ext_id: str, update_url: str) -> dict[str, object]:
    return {"ExtensionInstallForcelist": [f"{ext_id};{update_url}"]}


def provision(packaged: Packaged, *, root: Path = Path("/"), firefox: bool = True) -> list[Path]:
    """Write the policies (idempotent); returns the files written."""
    written = []
    policy = chrome_policy(packaged.chrome_id, (packaged.directory / "updates.xml").as_uri())
    for rel in CHROME_POLICY_DIRS.values():
        path = root / rel / POLICY_NAME
        _write_json(path, policy)
        written.append(path)
    if firefox:
        written.append(_provision_firefox(packaged, root))
    return written


def _provision_firefox(packaged: Packaged, root: Path) -> Path:
    path = root / FIREFOX_POLICIES
    state_path = root / STATE_FILE
    state = _read_json(state_path)
    doc = _read_json(path)
    policies = doc.setdefault("policies", {})
    settings = policies.setdefault("ExtensionSettings", {})
    settings[packaged.firefox_id] = {"installation_mode": "force_installed", "install_url": packaged.xpi.as_uri()}
    prefs = policies.setdefault("Preferences", {})
    if not packaged.xpi_signed() and UNSIGNED_PREF not in prefs:
        prefs[UNSIGNED_PREF] = {"Value": False, "Status": "locked"}
        state["firefox_unsigned_pref"] = True
    if not prefs:
        del policies["Preferences"]
    state["firefox_id"] = packaged.firefox_id
    _write_json(path, doc)
    _write_json(state_path, state)
    return path


def unprovision(*, root: Path = Path("/"), firefox_id: str | None = None) -> list[Path]:
    """Take back what `provision` added; returns the files changed or removed. Idempotent."""
    changed = []
    for rel in CHROME_POLICY_DIRS.values():
        path = root / rel / POLICY_NAME
        if path.exists():
            path.unlink()
            changed.append(path)
    state_path = root / STATE_FILE
    try:
        state = _read_json(state_path)
    except SceauError:
        state = {}
    ff_id = state.get("firefox_id") or firefox_id
    path = root / FIREFOX_POLICIES
    if ff_id and path.exists():
        doc = _read_json(path)
        policies = doc.get("policies", {})
        policies.get("ExtensionSettings", {}).pop(ff_id, None)
        if not policies.get("ExtensionSettings"):
            policies.pop("ExtensionSettings", None)
        if state.get("firefox_unsigned_pref"):
            policies.get("Preferences", {}).pop(UNSIGNED_PREF, None)
            if not policies.get("Preferences"):
                policies.pop("Preferences", None)
        if policies:
            _write_json(path, doc)
        else:
            path.unlink()  # the package's maintainer scripts remove the folders they created
        changed.append(path)
    state_path.unlink(missing_ok=True)
    return changed
