"""TLS client-certificate login: make the token visible to the browsers' own TLS stack.

Platforms such as S²low ask for a certificate during the TLS handshake; the browser then looks in
its own certificate store, not in Sceau. On Linux that store is NSS: Chromium, Chrome, Edge and
Brave share `~/.pki/nssdb`; each Firefox profile has its own database, and Firefox also loads the
modules named by the enterprise policy `SecurityDevices` (policies.json, `firefox_policy.py`). Sceau
registers the token's PKCS#11 module (or p11-kit-proxy) there under names starting with `Sceau (`, so
disabling removes only what Sceau added. A database whose browser is running is left alone (the
browser would not see the change and may rewrite the file): the user is told to close it and run
the command again.
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


P11KIT_MODULE_DIRS = ("/usr/share/p11-kit/modules", "/etc/pkcs11/modules")


def p11kit_served(proxy: str) -> set[str]:
    """Real paths of the modules p11-kit-proxy loads, from p11-kit's module files (nothing is loaded).
    p11-kit skips the user's ~/.config/pkcs11/modules for root (DESIGN.md §7), so do we."""
    folders = [Path(d) for d in P11KIT_MODULE_DIRS]
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        folders.append(Path.home() / ".config" / "pkcs11" / "modules")
    served: set[str] = set()
    for folder in folders:
        for conf in sorted(folder.glob("*.module")):
            try:
                lines = conf.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            fields = {k.strip(): v.strip() for k, sep, v in (ln.partition(":") for ln in lines) if sep}
            module = fields.get("module", "")
            if not module or "p11-kit-proxy" in fields.get("disable-in", ""):
                continue
            if "enable-in" in fields and "p11-kit-proxy" not in fields["enable-in"]:
                continue
            path = Path(module) if os.path.isabs(module) else Path(proxy).parent / "pkcs11" / module
            served.add(os.path.realpath(path))
    return served


def choose_modules(explicit: str | None = None, configured: Sequence[str] = ()) -> list[ChosenModule]:
    """What to register: the module asked for; else the one discovery found; with several,
    p11-kit-proxy when p11-kit serves all of them, otherwise each of them under its own name."""
    if explicit:
        if not Path(explicit).is_file():
            raise InvalidInput(_("PKCS#11 module not found: {path}").format(path=explicit))
        return [ChosenModule(f"{SCEAU_PREFIX}{Path(explicit).name})", explicit)]
    found = [(p, Path(p).name) for p in configured if Path(p).is_file()]
    found += [(m.path, m.vendor) for m in discover_modules() if m.path not in configured]
    if not found:
        raise NoToken(_("No token middleware found. {hint}").format(hint=missing_hint()))
    if len(found) > 1:
        proxy = next((p for p in P11KIT_PROXY if Path(p).is_file()), None)
        if proxy and {os.path.realpath(p) for p, _v in found} <= p11kit_served(proxy):
            return [ChosenModule(f"{SCEAU_PREFIX}p11-kit-proxy)", proxy)]
    names: set[str] = set()
    chosen: list[ChosenModule] = []
    for path, vendor in found:
        name = f"{SCEAU_PREFIX}{vendor})" if vendor not in names else f"{SCEAU_PREFIX}{Path(path).name})"
        names.add(vendor)
        chosen.append(ChosenModule(name, path))
    return chosen


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


def enable_target(target: Target, modules: Sequence[ChosenModule]) -> Outcome:
    """Register `modules` in one database; Sceau entries for other modules are replaced."""
    if target.running:
        return _in_use(target)
    added: list[ChosenModule] = []
    notes: list[str] = []
    try:
        if not target.db.exists():
            target.db.create()
        current = target.db.modules()
        proxy = next((m for m in current if Path(m.library).name == "p11-kit-proxy.so"), None)
        if proxy and not proxy.name.startswith(SCEAU_PREFIX):
            # The proxy already loads every module p11-kit knows; NSS cannot load one a second time.
            return Outcome(
                target.label,
                Status.USER,
                _("p11-kit-proxy, which you registered as '{name}', already serves the token modules").format(
                    name=proxy.name
                ),
            )
        wanted = {os.path.realpath(m.library) for m in modules}
        for stale in current:  # an earlier Sceau entry for a module not chosen any more
            if stale.name.startswith(SCEAU_PREFIX) and os.path.realpath(stale.library) not in wanted:
                target.db.delete(stale.name)
        status = Status.USER
        for module in modules:
            existing = target.db.find_library(module.library)
            if existing and existing.name.startswith(SCEAU_PREFIX):
                status = Status.ALREADY if status is Status.USER else status
                notes.append(_("already registered ({name})").format(name=existing.name))
            elif existing:
                notes.append(
                    _("you registered this module yourself as '{name}': left as it is").format(name=existing.name)
                )
            else:
                target.db.add(module.name, module.library)
                added.append(module)
                status = Status.ADDED
    except NssDatabaseError as exc:
        return Outcome(target.label, Status.ERROR, exc.message)
    parts = [_("{name} registered ({library})").format(name=m.name, library=m.library) for m in added]
    message = "; ".join(parts + notes)
    if added:
        message += _("; restart the browser")
    return Outcome(target.label, status, message)


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
