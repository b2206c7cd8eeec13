"""Browser policies that install the packaged extension: written, merged into an administrator's
Firefox policies.json, and taken back exactly (into a throw-away root, never the real /etc)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from sceau.errors import SceauError
from sceau.system import provisioning
from sceau.system.provisioning import Packaged


def packaged(tmp_path: Path, *, signed: bool = False) -> Packaged:
    d = tmp_path / "usr" / "share" / "sceau" / "extension"
    d.mkdir(parents=True)
    (d / "extension-ids.json").write_text(json.dumps({"chrome": ["a" * 32], "firefox": ["extension@sceau.fr"]}))
    with zipfile.ZipFile(d / "sceau-firefox.xpi", "w") as zf:
        zf.writestr("manifest.json", "{}")
        if signed:
            zf.writestr("META-INF/mozilla.rsa", b"sig")
    return Packaged(d)


def test_provision_and_take_back(tmp_path: Path) -> None:
    root = tmp_path / "root"
    pkg = packaged(tmp_path)
    admin = {"policies": {"DisableTelemetry": True, "ExtensionSettings": {"other@x": {"installation_mode": "blocked"}}}}
    ff = root / provisioning.FIREFOX_POLICIES
    ff.parent.mkdir(parents=True)
    ff.write_text(json.dumps(admin))

    provisioning.provision(pkg, root=root)
    provisioning.provision(pkg, root=root)  # idempotent
    chrome = json.loads((root / "etc/chromium/policies/managed/sceau.json").read_text())
    assert chrome == {"ExtensionInstallForcelist": [f"{'a' * 32};file://{pkg.directory}/updates.xml"]}
    for rel in provisioning.CHROME_POLICY_DIRS.values():
        assert (root / rel / "sceau.json").is_file()
    policies = json.loads(ff.read_text())["policies"]
    assert policies["DisableTelemetry"] is True and "other@x" in policies["ExtensionSettings"]
    assert policies["ExtensionSettings"]["extension@sceau.fr"] == {
        "installation_mode": "force_installed",
        "install_url": (pkg.directory / "sceau-firefox.xpi").as_uri(),
    }
    assert policies["Preferences"]["xpinstall.signatures.required"] == {"Value": False, "Status": "locked"}

    provisioning.unprovision(root=root)
    provisioning.unprovision(root=root)  # idempotent
    assert json.loads(ff.read_text()) == admin  # the administrator's policies, exactly
    assert not list(root.glob("etc/**/sceau.json"))


def test_signed_xpi_keeps_signature_checks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    provisioning.provision(packaged(tmp_path, signed=True), root=root)
    policies = json.loads((root / provisioning.FIREFOX_POLICIES).read_text())["policies"]
    assert "Preferences" not in policies
    provisioning.unprovision(root=root)
    assert not (root / provisioning.FIREFOX_POLICIES).exists()


def test_an_administrators_own_signature_setting_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "root"
    ff = root / provisioning.FIREFOX_POLICIES
    ff.parent.mkdir(parents=True)
    mine = {"policies": {"Preferences": {"xpinstall.signatures.required": {"Value": True, "Status": "locked"}}}}
    ff.write_text(json.dumps(mine))
    provisioning.provision(packaged(tmp_path), root=root)
    provisioning.unprovision(root=root)
    assert json.loads(ff.read_text()) == mine


def test_corrupt_policies_are_not_overwritten(tmp_path: Path) -> None:
    root = tmp_path / "root"
    ff = root / provisioning.FIREFOX_POLICIES
    ff.parent.mkdir(parents=True)
    ff.write_text("{broken")
    with pytest.raises(SceauError, match="not valid JSON"):
        provisioning.provision(packaged(tmp_path), root=root)
    assert ff.read_text() == "{broken"
