"""Start the agent with the user session: XDG autostart (Linux), LaunchAgent (macOS), Run key (Windows).

Installers create the same entries; the tray's "Démarrer avec la session" toggles them through
`Autostart.enable()` / `disable()`. Everything is per user (no administrator rights).
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from sceau.errors import SceauError
from sceau.i18n import _
from sceau.protocol.constants import HOST_NAME

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
# The Debian package's entry for every user; a user opts out with a same-named entry saying Hidden=true.
XDG_SYSTEM_AUTOSTART = Path("/etc/xdg/autostart")
RUN_VALUE = "Sceau"
_DESKTOP_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


class RegistryAccess(Protocol):
    """The few HKCU operations we need (winreg in production, a dict in tests)."""

    def get(self, key: str, name: str) -> str | None: ...
    def set(self, key: str, name: str, value: str) -> None: ...
    def delete(self, key: str, name: str) -> None: ...


class WinRegistry:
    """HKEY_CURRENT_USER through winreg (Windows only; type checkers on other OSes skip the bodies)."""

    def get(self, key: str, name: str) -> str | None:  # pragma: no cover - Windows
        if sys.platform == "win32":
            import winreg

            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key) as k:
                    value, _kind = winreg.QueryValueEx(k, name)
                    return str(value)
            except FileNotFoundError:
                return None
        raise NotImplementedError

    def set(self, key: str, name: str, value: str) -> None:  # pragma: no cover - Windows
        if sys.platform == "win32":
            import winreg

            with winreg.CreateKey(winreg.HKEY_CURRENT_USER, key) as k:
                winreg.SetValueEx(k, name, 0, winreg.REG_SZ, value)
            return
        raise NotImplementedError

    def delete(self, key: str, name: str) -> None:  # pragma: no cover - Windows
        if sys.platform == "win32":
            import winreg

            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key, 0, winreg.KEY_SET_VALUE) as k:
                    winreg.DeleteValue(k, name)
            except FileNotFoundError:
                pass
            return
        raise NotImplementedError


def default_command() -> list[str]:
    """The installed `sceau agent` launcher, else this interpreter running the package."""
    exe = shutil.which("sceau")
    return [exe, "agent"] if exe else [sys.executable, "-m", "sceau.cli", "agent"]


def desktop_exec(args: Sequence[str]) -> str:
    """Quote arguments for a .desktop `Exec=` key (Desktop Entry Specification, "Exec key")."""
    parts = []
    for arg in args:
        arg = arg.replace("%", "%%")
        if any(ch in _DESKTOP_RESERVED for ch in arg) or not arg:
            escaped = "".join("\\" + ch if ch in '"`$\\' else ch for ch in arg)
            arg = f'"{escaped}"'
        parts.append(arg)
    # The .desktop parser unescapes backslashes once more before splitting.
    return " ".join(parts).replace("\\", "\\\\")


class Autostart:
    """Per-user autostart entry for the current platform (or the one given, to test all three)."""

    def __init__(
        self,
        command: Sequence[str] | None = None,
        *,
        platform: str = sys.platform,
        home: Path | None = None,
        registry: RegistryAccess | None = None,
        system_dir: Path = XDG_SYSTEM_AUTOSTART,
    ) -> None:
        self.command = list(command or default_command())
        self.system_dir = system_dir
        self.platform = platform
        self.home = home or Path.home()
        self._registry = registry

    # -- where and what ------------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The entry file (None on Windows, where it is a registry value)."""
        if self.platform == "darwin":
            return self.home / "Library" / "LaunchAgents" / f"{HOST_NAME}.plist"
        if self.platform == "win32":
            return None
        config_home = os.environ.get("XDG_CONFIG_HOME") if self.home == Path.home() else None
        base = Path(config_home) if config_home else self.home / ".config"
        return base / "autostart" / f"{HOST_NAME}.desktop"

    def content(self) -> str:
        """The entry as written: .desktop text, plist XML, or the Run value's command line."""
        if self.platform == "darwin":
            plist = {
                "Label": HOST_NAME,
                "ProgramArguments": self.command,
                "RunAtLoad": True,
                "KeepAlive": False,
                "ProcessType": "Interactive",
                "LimitLoadToSessionType": "Aqua",
            }
            return plistlib.dumps(plist, fmt=plistlib.FMT_XML).decode("utf-8")
        if self.platform == "win32":
            return subprocess.list2cmdline(self.command)
        return "\n".join(
            [
                "[Desktop Entry]",
                "Type=Application",
                "Version=1.0",
                "Name=Sceau",
                "GenericName=Signature électronique",
                "Comment=" + _("Bridge between procurement web sites and your signing certificate"),
                "Exec=" + desktop_exec(self.command),
                "Icon=sceau",
                "Terminal=false",
                "Categories=System;Security;",
                "X-GNOME-Autostart-enabled=true",
                "",
            ]
        )

    # -- state ---------------------------------------------------------------------------------

    def _reg(self) -> RegistryAccess:
        return self._registry or WinRegistry()

    def is_enabled(self) -> bool:
        if self.platform == "win32":
            return self._reg().get(RUN_KEY, RUN_VALUE) is not None
        path = self.path
        if path is not None and path.is_file():
            return not self._hidden(path)
        return self._system_entry() is not None

    def _system_entry(self) -> Path | None:
        """The package's entry for every user (Linux), when installed."""
        if self.platform in ("darwin", "win32") or self.path is None:
            return None
        entry = self.system_dir / self.path.name
        return entry if entry.is_file() else None

    @staticmethod
    def _hidden(path: Path) -> bool:
        try:
            return "\nHidden=true" in "\n" + path.read_text(encoding="utf-8")
        except OSError:
            return False

    def enable(self) -> None:
        try:
            if self.platform == "win32":
                self._reg().set(RUN_KEY, RUN_VALUE, self.content())
                return
            path = self.path
            assert path is not None
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sceau-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.content())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as exc:
            raise SceauError(_("Could not enable start with the session: {err}").format(err=exc.strerror)) from None

    def disable(self) -> None:
        try:
            if self.platform == "win32":
                self._reg().delete(RUN_KEY, RUN_VALUE)
                return
            path = self.path
            if path is not None:
                path.unlink(missing_ok=True)
                if self._system_entry() is not None:  # the package starts it for everyone: opt out
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(self.content().replace("X-GNOME-Autostart-enabled=true", "Hidden=true"))
        except OSError as exc:
            raise SceauError(_("Could not disable start with the session: {err}").format(err=exc.strerror)) from None
