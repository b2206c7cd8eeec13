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
FIREFOX_DEFAULT_ID = "extension@sceau.fr"
# A package's own build of the extension (signed with the release key at build time) is listed in
# `extension-ids.json` beside the installation (extension/tools/package.py writes it); store ids are
# added the same way. The host refuses every other caller.
IDS_FILE_ENV = "SCEAU_EXTENSION_IDS"


def ids_file() -> Path:
    """`$SCEAU_EXTENSION_IDS`, else `<prefix>/share/sceau/extension-ids.json` of this installation."""
    return Path(os.environ.get(IDS_FILE_ENV) or Path(sys.prefix) / "share" / "sceau" / "extension-ids.json")


def _packaged_ids(key: str) -> tuple[str, ...]:
    try:
        data = json.loads(ids_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    values = data.get(key, []) if isinstance(data, dict) else []
    return tuple(v for v in values if isinstance(v, str) and v)


def _merge(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for g in groups for i in g))


CHROME_EXTENSION_IDS: tuple[str, ...] = _merge((DEV_EXTENSION_ID,), _packaged_ids("chrome"))
FIREFOX_EXTENSION_IDS: tuple[str, ...] = _merge((FIREFOX_DEFAULT_ID,), _packaged_ids("firefox"))

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


class ForeignManifest(Exception):
    """A file at our manifest's path that Sceau did not write (or cannot read): left alone."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def inspect(path: Path) -> tuple[str, str]:
    """(`absent` | `ours` | `broken` | `foreign` | `corrupt`, detail) for a manifest file.

    `ours`: written by Sceau and its host is an executable; `broken`: ours but the host is missing."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return "absent", ""
    except (OSError, UnicodeDecodeError) as exc:
        return "corrupt", str(exc)
    try:
        body = json.loads(raw)
    except ValueError:
        return "corrupt", "not JSON"
    if not isinstance(body, dict) or body.get("name") != HOST_NAME:
        return "corrupt", "not a native-messaging manifest for " + HOST_NAME
    host = body.get("path")
    if body.get("description") != DESCRIPTION or not isinstance(host, str):
        return "foreign", f"written by another program (path {host!r})"
    if not (os.path.isfile(host) and os.access(host, os.X_OK)):
        return "broken", f"host {host} is not an executable"
    return "ours", host


def write_manifest(directory: Path, browser: str, host_path: str) -> Path:
    """Write `<directory>/fr.sceau.agent.json` (also used by tests for a profile's own folder).

    A file already there is replaced only if Sceau wrote it (raises ForeignManifest otherwise)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{HOST_NAME}.json"
    state, detail = inspect(path)
    if state in ("foreign", "corrupt"):
        raise ForeignManifest(path, detail)
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


def target(
    browser: str,
    *,
    system: bool,
    home: Path | None = None,
    platform: str | None = None,
    profile: Path | None = None,
) -> Target:
    """The manifest location for `browser` on `platform` (default: this one).

    `profile`: a Chrome-family `--user-data-dir` (kiosks, test automation), read before the user's
    folder. On Linux the user folders follow `$XDG_CONFIG_HOME` as the browsers do (not Firefox's)."""
    if browser not in BROWSERS:
        raise ValueError(f"unknown browser {browser!r}")
    platform = platform or sys.platform
    if profile is not None:
        if is_firefox(browser):
            raise ValueError("Firefox reads native-messaging manifests only from the user or system folders")
        return Target(browser, profile / "NativeMessagingHosts")
    explicit_home = home is not None
    home = home or Path.home()
    if platform == "win32":
        base = Path(os.environ.get("PROGRAMDATA" if system else "LOCALAPPDATA", str(home)))
        return Target(browser, base / "Sceau" / "NativeMessagingHosts" / browser, _WINDOWS_KEYS[browser])
    table = _MACOS if platform == "darwin" else _LINUX
    user_dir, system_dir = table[browser]
    if system:
        return Target(browser, Path(system_dir))
    config_home = os.environ.get("XDG_CONFIG_HOME") if platform == "linux" and not explicit_home else None
    if config_home and user_dir.startswith(".config/"):
        return Target(browser, Path(config_home) / user_dir.removeprefix(".config/"))
    return Target(browser, home / user_dir)


def install(
    browsers: tuple[str, ...] = BROWSERS,
    *,
    system: bool = False,
    host_path: str | None = None,
    home: Path | None = None,
    profile: Path | None = None,
) -> list[Path]:
    """Write (and on Windows register) the manifest for each browser; returns the files written.

    With `profile`, Firefox is skipped (it has no per-profile folder). A foreign manifest stops the
    loop with ForeignManifest after the others are written."""
    host = host_path or default_host_path()
    written = []
    foreign: list[ForeignManifest] = []
    for browser in browsers:
        if profile is not None and is_firefox(browser):
            continue
        tgt = target(browser, system=system, home=home, profile=profile)
        if tgt.directory / f"{HOST_NAME}.json" in written:
            continue  # Brave shares Chrome's system folder
        try:
            path = write_manifest(tgt.directory, browser, host)
        except ForeignManifest as exc:
            foreign.append(exc)
            continue
        path = write_manifest(tgt.directory, browser, host)
        if tgt.registry_key is not None:  # pragma: no cover - Windows
            _set_registry(tgt.registry_key, path, system=system)
        written.append(path)
    if foreign:
        raise foreign[0]
    return written


def uninstall(
    browsers: tuple[str, ...] = BROWSERS,
    *,
    system: bool = False,
    home: Path | None = None,
    profile: Path | None = None,
) -> list[Path]:
    """Remove our manifests (and registry keys); returns the files removed. Foreign files stay."""
    removed = []
    for browser in browsers:
        if profile is not None and is_firefox(browser):
            continue
        tgt = target(browser, system=system, home=home, profile=profile)
        path = tgt.directory / f"{HOST_NAME}.json"
        if inspect(path)[0] in ("ours", "broken"):
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
