"""TLS client-certificate login: make the token visible to the browsers' own TLS stack.

Platforms such as S²low ask for a certificate during the TLS handshake; the browser then looks in
its own certificate store, not in Sceau. On Linux that store is NSS: Chromium, Chrome, Edge and
Brave share `~/.pki/nssdb`; each Firefox profile has its own database, and Firefox also loads the
modules named by the enterprise policy `SecurityDevices` (policies.json). Sceau registers one
PKCS#11 module there under a name starting with `Sceau (`, so disabling removes only what Sceau
added. A database whose browser is running is left alone (the browser would not see the change and
may rewrite the file): the user is told to close it and run the command again.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable, Sequence
from configparser import ConfigParser
from configparser import Error as IniError
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sceau.errors import InvalidInput, NoToken
from sceau.i18n import _
from sceau.system.nssdb import NssDatabase, NssDatabaseError
from sceau.tokens.discovery import discover_modules, missing_hint

SCEAU_PREFIX = "Sceau ("
FIX_COMMAND = "sceau browsers enable-tls-login"
P11KIT_PROXY = (
    "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib64/p11-kit-proxy.so",
    "/usr/lib/p11-kit-proxy.so",
)
# Chromium-family browsers that read ~/.pki/nssdb on Linux, by their config folder.
CHROMIUM_FAMILY = {
    "chromium": "Chromium",
    "google-chrome": "Google Chrome",
    "microsoft-edge": "Microsoft Edge",
    "BraveSoftware/Brave-Browser": "Brave",
}
FIREFOX_ROOTS = (
    ".mozilla/firefox",
    "snap/firefox/common/.mozilla/firefox",
    ".var/app/org.mozilla.firefox/.mozilla/firefox",
)


class Browser(StrEnum):
    CHROMIUM = "chromium"  # Chromium, Chrome, Edge, Brave: one shared NSS database
    FIREFOX = "firefox"


class Status(StrEnum):
    ADDED = "added"
    ALREADY = "already"  # Sceau's entry is there
    USER = "user"  # the user registered this module themselves: left as it is
    REMOVED = "removed"
    ABSENT = "absent"
    IN_USE = "in-use"
    ERROR = "error"

    @property
    def ok(self) -> bool:
        return self not in (Status.IN_USE, Status.ERROR)


@dataclass(frozen=True)
class ChosenModule:
    name: str  # NSS module name, always starting with SCEAU_PREFIX
    library: str


@dataclass(frozen=True)
class Target:
    browser: Browser
    label: str
    db: NssDatabase
    running: str | None = None  # name of the browser holding it, if any


@dataclass(frozen=True)
class Outcome:
    label: str
    status: Status
    message: str


def choose_module(explicit: str | None = None, configured: Sequence[str] = ()) -> ChosenModule:
    """The module to register: the one asked for, the one discovery found, or p11-kit-proxy when
    several are installed (it loads every module registered with p11-kit)."""
    if explicit:
        if not Path(explicit).is_file():
            raise InvalidInput(_("PKCS#11 module not found: {path}").format(path=explicit))
        return ChosenModule(f"{SCEAU_PREFIX}{Path(explicit).name})", explicit)
    found = [(p, _("configured")) for p in configured if Path(p).is_file()]
    found += [(m.path, m.vendor) for m in discover_modules() if m.path not in configured]
    if not found:
        raise NoToken(_("No token middleware found. {hint}").format(hint=missing_hint()))
    if len(found) > 1:
        proxy = next((p for p in P11KIT_PROXY if Path(p).is_file()), None)
        if proxy:
            return ChosenModule(f"{SCEAU_PREFIX}p11-kit-proxy)", proxy)
    path, vendor = found[0]
    return ChosenModule(f"{SCEAU_PREFIX}{vendor})", path)


# --- where the databases are -------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _symlink_pid(link: Path, separator: str) -> int | None:
    """PID from a browser lock symlink ("host-PID" for Chromium, "IP:+PID" for Firefox)."""
    try:
        target = os.readlink(link)
    except OSError:
        return None
    head, _sep, tail = target.rpartition(separator)
    if not tail.isdigit():
        return None
    if separator == "-" and head and head != socket.gethostname():
        return None  # a lock from another machine (shared home): not ours to judge
    return int(tail)


def chromium_running(home: Path) -> str | None:
    for folder, name in CHROMIUM_FAMILY.items():
        pid = _symlink_pid(home / ".config" / folder / "SingletonLock", "-")
        if pid is not None and _pid_alive(pid):
            return name
    return None


def firefox_profile_in_use(profile: Path) -> bool:
    pid = _symlink_pid(profile / "lock", "+")
    if pid is not None and _pid_alive(pid):
        return True
    parent = profile / ".parentlock"
    if not parent.is_file():
        return False
    if sys.platform == "win32":  # pragma: no cover - Windows locks the file itself
        return False
    import fcntl

    # Firefox holds an fcntl lock on .parentlock while the profile is open.
    with open(parent, "rb+") as fh:
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(fh, fcntl.LOCK_UN)
    return False


def firefox_profiles(home: Path) -> list[Path]:
    """Profiles listed in profiles.ini (deb, snap and flatpak installs)."""
    out: list[Path] = []
    for root in FIREFOX_ROOTS:
        base = home / root
        ini = ConfigParser(interpolation=None)
        try:
            ini.read(base / "profiles.ini", encoding="utf-8")
        except (IniError, UnicodeDecodeError):
            continue
        for section in ini.sections():
            path = ini.get(section, "Path", fallback="")
            if not section.startswith("Profile") or not path:
                continue
            relative = ini.get(section, "IsRelative", fallback="1") == "1"
            profile = base / path if relative else Path(path)
            if profile.is_dir() and profile not in out:
                out.append(profile)
    return out


def targets(home: Path | None = None, browsers: Iterable[Browser] = tuple(Browser)) -> list[Target]:
    home = home or Path.home()
    chosen = set(browsers)
    found: list[Target] = []
    if Browser.CHROMIUM in chosen:
        found.append(
            Target(
                Browser.CHROMIUM,
                _("Chromium / Chrome / Edge ({path})").format(path="~/.pki/nssdb"),
                NssDatabase(home / ".pki" / "nssdb"),
                chromium_running(home),
            )
        )
    if Browser.FIREFOX in chosen:
        for profile in firefox_profiles(home):
            found.append(
                Target(
                    Browser.FIREFOX,
                    _("Firefox profile {name}").format(name=profile.name),
                    NssDatabase(profile),
                    "Firefox" if firefox_profile_in_use(profile) else None,
                )
            )
    return found


# --- enable / disable ---------------------------------------------------------------------------


def _in_use(target: Target) -> Outcome:
    return Outcome(
        target.label,
        Status.IN_USE,
        _("{browser} is running with this database: close it, then run `{command}` again.").format(
            browser=target.running, command=FIX_COMMAND
        ),
    )


def enable_target(target: Target, module: ChosenModule) -> Outcome:
    if target.running:
        return _in_use(target)
    try:
        if not target.db.exists():
            target.db.create()
        existing = target.db.find_library(module.library)
        if existing and existing.name.startswith(SCEAU_PREFIX):
            return Outcome(target.label, Status.ALREADY, _("already registered ({name})").format(name=existing.name))
        if existing:
            return Outcome(
                target.label,
                Status.USER,
                _("you registered this module yourself as '{name}': left as it is").format(name=existing.name),
            )
        proxy = next((m for m in target.db.modules() if Path(m.library).name == "p11-kit-proxy.so"), None)
        if proxy and not proxy.name.startswith(SCEAU_PREFIX):
            # The proxy already loads every module p11-kit knows; NSS cannot load one a second time.
            return Outcome(
                target.label,
                Status.USER,
                _("p11-kit-proxy, which you registered as '{name}', already serves the token modules").format(
                    name=proxy.name
                ),
            )
        for stale in target.db.modules():  # an earlier Sceau entry for another module
            if stale.name.startswith(SCEAU_PREFIX):
                target.db.delete(stale.name)
        target.db.add(module.name, module.library)
    except NssDatabaseError as exc:
        return Outcome(target.label, Status.ERROR, exc.message)
    return Outcome(
        target.label,
        Status.ADDED,
        _("{name} registered ({library}); restart the browser").format(name=module.name, library=module.library),
    )


def disable_target(target: Target) -> Outcome:
    if target.running:
        return _in_use(target)
    try:
        ours = [m for m in target.db.modules() if m.name.startswith(SCEAU_PREFIX)]
        for m in ours:
            target.db.delete(m.name)
    except NssDatabaseError as exc:
        return Outcome(target.label, Status.ERROR, exc.message)
    if not ours:
        return Outcome(target.label, Status.ABSENT, _("nothing registered by Sceau"))
    return Outcome(target.label, Status.REMOVED, _("removed: {names}").format(names=", ".join(m.name for m in ours)))
