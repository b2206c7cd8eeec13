"""Manifests another program owns are left alone (and reported); --profile; XDG_CONFIG_HOME; ids of a
packaged build allowed by the host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sceau.protocol.constants import HOST_NAME, ExitCode
from sceau_native_host import manifests

HOST = sys.executable  # an executable file: what `inspect` checks for our own manifests


def test_foreign_and_corrupt_manifests_are_not_replaced(tmp_path: Path) -> None:
    foreign = {"name": HOST_NAME, "description": "other", "path": "/opt/other/host", "type": "stdio"}
    (tmp_path / f"{HOST_NAME}.json").write_text(json.dumps(foreign))
    with pytest.raises(manifests.ForeignManifest):
        manifests.write_manifest(tmp_path, "chromium", HOST)
    assert json.loads((tmp_path / f"{HOST_NAME}.json").read_text()) == foreign
    assert manifests.inspect(tmp_path / f"{HOST_NAME}.json")[0] == "foreign"

    (tmp_path / f"{HOST_NAME}.json").write_text("{not json")
    with pytest.raises(manifests.ForeignManifest):
        manifests.write_manifest(tmp_path, "chromium", HOST)
    assert (tmp_path / f"{HOST_NAME}.json").read_text() == "{not json"
    assert manifests.inspect(tmp_path / f"{HOST_NAME}.json")[0] == "corrupt"


def test_our_manifest_is_replaced_and_a_missing_host_is_broken(tmp_path: Path) -> None:
    manifests.write_manifest(tmp_path, "chromium", "/nonexistent/sceau-native-host")
    assert manifests.inspect(tmp_path / f"{HOST_NAME}.json")[0] == "broken"
    host = tmp_path / "sceau-native-host"
    host.write_text("#!/bin/sh\n")
    host.chmod(0o755)
    manifests.write_manifest(tmp_path, "chromium", str(host))
    assert manifests.inspect(tmp_path / f"{HOST_NAME}.json") == ("ours", str(host))


def test_uninstall_keeps_foreign_manifests(tmp_path: Path) -> None:
    target = manifests.target("chromium", system=False, home=tmp_path).directory
    target.mkdir(parents=True)
    (target / f"{HOST_NAME}.json").write_text('{"name": "x"}')
    assert manifests.uninstall(("chromium",), home=tmp_path) == []
    assert (target / f"{HOST_NAME}.json").exists()


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sceau.cli", *args], capture_output=True, text=True, env=env)


def test_cli_profile_and_xdg_config_home(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "SCEAU_LANG": "en"}
    profile = tmp_path / "kiosk-profile"
    done = _cli(["install-manifests", "--profile", str(profile), "--host-path", HOST], env)
    assert done.returncode == 0, done.stderr
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    assert written == [f"kiosk-profile/NativeMessagingHosts/{HOST_NAME}.json"]  # Chrome family only

    done = _cli(["install-manifests", "--browser", "chromium", "--browser", "firefox", "--host-path", HOST], env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "xdg" / "chromium" / "NativeMessagingHosts" / f"{HOST_NAME}.json").is_file()
    assert (tmp_path / "home" / ".mozilla" / "native-messaging-hosts" / f"{HOST_NAME}.json").is_file()

    # A foreign manifest: an error exit, a message naming the file, the file untouched.
    path = tmp_path / "xdg" / "chromium" / "NativeMessagingHosts" / f"{HOST_NAME}.json"
    path.write_text('{"name": "fr.sceau.agent", "path": "/opt/evil"}')
    done = _cli(["install-manifests", "--browser", "chromium", "--host-path", HOST], env)
    assert done.returncode == ExitCode.ERROR and str(path) in done.stderr and "not written by Sceau" in done.stderr
    assert "/opt/evil" in path.read_text()

    done = _cli(["doctor", "--json"], env)
    (wired,) = [c for c in json.loads(done.stdout) if c["name"] == "Browser connection"]
    assert not wired["ok"] and any(str(path) in item for item in wired["items"]), wired


def test_packaged_ids_are_allowed(tmp_path: Path) -> None:
    ids = tmp_path / "extension-ids.json"
    ids.write_text(json.dumps({"chrome": ["abcdefghijklmnopabcdefghijklmnop"], "firefox": ["other@sceau.fr"]}))
    code = (
        "from sceau_native_host import manifests as m; import json;"
        "print(json.dumps([m.manifest('chromium', '/h')['allowed_origins'], m.FIREFOX_EXTENSION_IDS]))"
    )
    env = {**os.environ, manifests.IDS_FILE_ENV: str(ids)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    origins, firefox = json.loads(out)
    assert origins == [
        f"chrome-extension://{manifests.DEV_EXTENSION_ID}/",
        "chrome-extension://abcdefghijklmnopabcdefghijklmnop/",
    ]
    assert firefox == ["extension@sceau.fr", "other@sceau.fr"]
