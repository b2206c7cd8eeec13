"""Native-messaging manifests: content per browser family, locations, install/uninstall via the CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sceau.protocol.constants import HOST_NAME
from sceau_native_host import manifests
from sceau_native_host.manifests import DEV_EXTENSION_ID

REPO = Path(__file__).resolve().parents[2]


def extension_id_from_key(key_b64: str) -> str:
    """Chrome's id: first 128 bits of SHA-256(SPKI DER), hex digits mapped to a..p."""
    digest = hashlib.sha256(base64.b64decode(key_b64)).hexdigest()[:32]
    return "".join(chr(ord("a") + int(c, 16)) for c in digest)


def test_dev_id_matches_the_committed_public_key() -> None:
    manifest = json.loads((REPO / "extension" / "manifest.json").read_text(encoding="utf-8"))
    assert extension_id_from_key(manifest["key"]) == DEV_EXTENSION_ID


def test_committed_key_is_a_public_key_only() -> None:
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    manifest = json.loads((REPO / "extension" / "manifest.json").read_text(encoding="utf-8"))
    key = load_der_public_key(base64.b64decode(manifest["key"]))
    assert key.key_size == 2048  # type: ignore[attr-defined]
    for path in (REPO / "extension").rglob("*"):
        if path.is_file() and path.suffix in {".pem", ".key", ".json", ".js"}:
            assert b"PRIVATE KEY" not in path.read_bytes(), path


def test_chrome_and_firefox_content() -> None:
    chrome = manifests.manifest("chromium", "/opt/sceau/host")
    assert chrome == {
        "name": HOST_NAME,
        "description": manifests.DESCRIPTION,
        "path": "/opt/sceau/host",
        "type": "stdio",
        "allowed_origins": [f"chrome-extension://{DEV_EXTENSION_ID}/"],
    }
    firefox = manifests.manifest("firefox", "/opt/sceau/host")
    assert firefox["allowed_extensions"] == list(manifests.FIREFOX_EXTENSION_IDS)
    assert "allowed_origins" not in firefox


@pytest.mark.parametrize(
    ("browser", "platform", "system", "expected"),
    [
        ("chromium", "linux", False, "HOME/.config/chromium/NativeMessagingHosts"),
        ("chrome", "linux", True, "/etc/opt/chrome/native-messaging-hosts"),
        ("firefox", "linux", False, "HOME/.mozilla/native-messaging-hosts"),
        ("firefox", "linux", True, "/usr/lib/mozilla/native-messaging-hosts"),
        ("edge", "darwin", False, "HOME/Library/Application Support/Microsoft Edge/NativeMessagingHosts"),
        ("brave", "linux", False, "HOME/.config/BraveSoftware/Brave-Browser/NativeMessagingHosts"),
    ],
)
def test_locations(browser: str, platform: str, system: bool, expected: str, tmp_path: Path) -> None:
    tgt = manifests.target(browser, system=system, home=tmp_path, platform=platform)
    assert str(tgt.directory) == expected.replace("HOME", str(tmp_path))
    assert tgt.registry_key is None


def test_windows_uses_registry_keys(tmp_path: Path) -> None:
    tgt = manifests.target("edge", system=False, home=tmp_path, platform="win32")
    assert tgt.registry_key == r"Software\Microsoft\Edge\NativeMessagingHosts"


def test_cli_install_and_uninstall(tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path))
    cmd = [sys.executable, "-m", "sceau.cli.agent", "install-manifests"]
    out = subprocess.run(
        [*cmd, "--browser", "chromium", "--browser", "firefox"], env=env, capture_output=True, text=True, check=True
    )
    chromium = tmp_path / ".config/chromium/NativeMessagingHosts" / f"{HOST_NAME}.json"
    firefox = tmp_path / ".mozilla/native-messaging-hosts" / f"{HOST_NAME}.json"
    assert str(chromium) in out.stdout and str(firefox) in out.stdout
    body = json.loads(chromium.read_text(encoding="utf-8"))
    assert Path(body["path"]).name == "sceau-native-host" and os.access(body["path"], os.X_OK)
    assert not (tmp_path / ".config/google-chrome").exists()
    subprocess.run([*cmd, "--uninstall"], env=env, capture_output=True, check=True)
    assert not chromium.exists() and not firefox.exists()
