"""Native-messaging host manifests: what they contain and where each browser looks for them.

Chrome-family browsers name the allowed extensions by origin (`allowed_origins`), Firefox by
add-on id (`allowed_extensions`). On Linux and macOS the manifest's location is the registration;
on Windows a registry key points at the manifest file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from sceau.protocol.constants import HOST_NAME

DESCRIPTION = "Sceau: signature, authentification et chiffrement avec votre certificat"
# Development id, fixed by the public `key` committed in extension/manifest.json.
DEV_EXTENSION_ID = "nocejmbeaipeadefmdkpmikkddceiihb"
# Store ids are added here when the extension is published; the host refuses every other caller.
CHROME_EXTENSION_IDS: tuple[str, ...] = (DEV_EXTENSION_ID,)
FIREFOX_EXTENSION_IDS: tuple[str, ...] = ("extension@sceau.fr",)

BROWSERS = ("chrome", "chromium", "edge", "brave", "firefox")

# (user dir relative to home, system dir) per browser, Linux.
_LINUX = {
    "chrome": (".config/google-chrome/NativeMessagingHosts", "/etc/opt/chrome/native-messaging-hosts"),
    "chromium": (".config/chromium/NativeMessagingHosts", "/etc/chromium/native-messaging-hosts"),
    "edge": (".config/microsoft-edge/NativeMessagingHosts", "/etc/opt/edge/native-messaging-hosts"),
    "brave": (
        ".config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
        "/etc/opt/chrome/native-messaging-hosts",  # Brave reads Chrome's system folder on Linux
    ),
    "firefox": (".mozilla/native-messaging-hosts", "/usr/lib/mozilla/native-messaging-hosts"),
}
_MACOS = {
    "chrome": (
        "Library/Application Support/Google/Chrome/NativeMessagingHosts",
        "/Library/Google/Chrome/NativeMessagingHosts",
    ),
    "chromium": (
        "Library/Application Support/Chromium/NativeMessagingHosts",
        "/Library/Application Support/Chromium/NativeMessagingHosts",
    ),
    "edge": (
        "Library/Application Support/Microsoft Edge/NativeMessagingHosts",
        "/Library/Microsoft/Edge/NativeMessagingHosts",
    ),
    "brave": (
        "Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
        "/Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
    ),
    "firefox": (
        "Library/Application Support/Mozilla/NativeMessagingHosts",
        "/Library/Application Support/Mozilla/NativeMessagingHosts",
    ),
}
# Windows: registry key (under HKCU or HKLM) whose default value is the manifest path.
_WINDOWS_KEYS = {
    "chrome": r"Software\Google\Chrome\NativeMessagingHosts",
    "chromium": r"Software\Chromium\NativeMessagingHosts",
    "edge": r"Software\Microsoft\Edge\NativeMessagingHosts",
    "brave": r"Software\BraveSoftware\Brave-Browser\NativeMessagingHosts",
    "firefox": r"Software\Mozilla\NativeMessagingHosts",
}


def is_firefox(browser: str) -> bool:
    return browser == "firefox"


def manifest(browser: str, host_path: str) -> dict[str, object]:
    """The manifest content for one browser family."""
    body: dict[str, object] = {
        "name": HOST_NAME,
        "description": DESCRIPTION,
        "path": host_path,
        "type": "stdio",
    }
    if is_firefox(browser):
        body["allowed_extensions"] = list(FIREFOX_EXTENSION_IDS)
    else:
        body["allowed_origins"] = [f"chrome-extension://{i}/" for i in CHROME_EXTENSION_IDS]
    return body


def write_manifest(directory: Path, browser: str, host_path: str) -> Path:
    """Write `<directory>/fr.sceau.agent.json` (also used by tests for a profile's own folder)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{HOST_NAME}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest(browser, host_path), indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o644)  # browsers of this user (system-wide: of every user) must read it
    os.replace(tmp, path)
    return path


def default_host_path() -> str:
    """The installed `sceau-native-host` launcher, next to the running interpreter when possible."""
    name = "sceau-native-host.exe" if sys.platform == "win32" else "sceau-native-host"
    scripts = Path(sys.executable).parent
    candidate = scripts / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which("sceau-native-host")
    if found:
        return found
    raise FileNotFoundError("sceau-native-host is not installed next to this Python nor on PATH")


@dataclass(frozen=True)
class Target:
    """Where one browser's manifest goes: a directory, plus a registry key on Windows."""

    browser: str
    directory: Path
    registry_key: str | None = None


def target(browser: str, *, system: bool, home: Path | None = None, platform: str | None = None) -> Target:
    """The manifest location for `browser` on `platform` (default: this one)."""
    if browser not in BROWSERS:
        raise ValueError(f"unknown browser {browser!r}")
    platform = platform or sys.platform
    home = home or Path.home()
    if platform == "win32":
        base = Path(os.environ.get("PROGRAMDATA" if system else "LOCALAPPDATA", str(home)))
        return Target(browser, base / "Sceau" / "NativeMessagingHosts" / browser, _WINDOWS_KEYS[browser])
    table = _MACOS if platform == "darwin" else _LINUX
    user_dir, system_dir = table[browser]
    return Target(browser, Path(system_dir) if system else home / user_dir)


def install(
    browsers: tuple[str, ...] = BROWSERS,
    *,
    system: bool = False,
    host_path: str | None = None,
    home: Path | None = None,
) -> list[Path]:
    """Write (and on Windows register) the manifest for each browser; returns the files written."""
    host = host_path or default_host_path()
    written = []
    for browser in browsers:
        tgt = target(browser, system=system, home=home)
        path = write_manifest(tgt.directory, browser, host)
        if tgt.registry_key is not None:  # pragma: no cover - Windows
            _set_registry(tgt.registry_key, path, system=system)
        written.append(path)
    return written


def uninstall(browsers: tuple[str, ...] = BROWSERS, *, system: bool = False, home: Path | None = None) -> list[Path]:
    """Remove the manifests (and registry keys); returns the files that were removed."""
    removed = []
    for browser in browsers:
        tgt = target(browser, system=system, home=home)
        path = tgt.directory / f"{HOST_NAME}.json"
        if path.exists():
            path.unlink()
            removed.append(path)
        if tgt.registry_key is not None:  # pragma: no cover - Windows
            _delete_registry(tgt.registry_key, system=system)
    return removed


def _set_registry(key: str, manifest_path: Path, *, system: bool) -> None:  # pragma: no cover - Windows
    if sys.platform != "win32":
        return
    import winreg

    root = winreg.HKEY_LOCAL_MACHINE if system else winreg.HKEY_CURRENT_USER
    with winreg.CreateKey(root, rf"{key}\{HOST_NAME}") as handle:
        winreg.SetValueEx(handle, "", 0, winreg.REG_SZ, str(manifest_path))


def _delete_registry(key: str, *, system: bool) -> None:  # pragma: no cover - Windows
    if sys.platform != "win32":
        return
    import winreg

    root = winreg.HKEY_LOCAL_MACHINE if system else winreg.HKEY_CURRENT_USER
    with contextlib.suppress(FileNotFoundError):
        winreg.DeleteKey(root, rf"{key}\{HOST_NAME}")
