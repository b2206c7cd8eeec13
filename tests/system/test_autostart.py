"""Autostart entries: written and removed on Linux, generated content checked for macOS and Windows."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
from pathlib import Path

import pytest

from sceau.system.autostart import RUN_KEY, RUN_VALUE, Autostart, desktop_exec

CMD = ["/opt/Sceau Agent/bin/sceau", "agent", "--dev"]


def test_linux_desktop_entry(tmp_path: Path) -> None:
    auto = Autostart(CMD, platform="linux", home=tmp_path)
    assert auto.path == tmp_path / ".config" / "autostart" / "fr.sceau.agent.desktop"
    assert not auto.is_enabled()
    auto.enable()
    assert auto.is_enabled()
    text = auto.path.read_text()
    assert text.startswith("[Desktop Entry]\nType=Application\n")
    assert 'Exec="/opt/Sceau Agent/bin/sceau" agent --dev' in text
    if shutil.which("desktop-file-validate"):
        out = subprocess.run(["desktop-file-validate", str(auto.path)], capture_output=True, text=True)
        assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr
    auto.enable()  # idempotent
    auto.disable()
    assert not auto.is_enabled() and not auto.path.exists()
    auto.disable()  # idempotent


def test_desktop_exec_quoting() -> None:
    assert desktop_exec(["/usr/bin/sceau", "agent"]) == "/usr/bin/sceau agent"
    quoted = desktop_exec(["/a b/x", "50%", 'say "hi" $HOME', "back\\slash"])
    assert quoted == '"/a b/x" 50%% "say \\\\"hi\\\\" \\\\$HOME" "back\\\\\\\\slash"'
    assert unquote_exec(quoted) == ["/a b/x", "50%", 'say "hi" $HOME', "back\\slash"]


def unquote_exec(value: str) -> list[str]:
    """The Desktop Entry Specification's reading of Exec=, written independently of the encoder."""
    text = value.replace("\\\\", "\\")  # 1. string-value escapes: \\ → \
    args, cur, quoted, i, started = [], "", False, 0, False
    while i < len(text):
        ch = text[i]
        if quoted and ch == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
            cur += text[i + 1]
            i += 2
            continue
        if ch == '"':
            quoted, started = not quoted, True
        elif ch == " " and not quoted:
            if cur or started:
                args.append(cur)
            cur, started = "", False
        else:
            cur += ch
        i += 1
    if cur or started:
        args.append(cur)
    return [a.replace("%%", "%") for a in args]


def test_macos_launch_agent(tmp_path: Path) -> None:
    auto = Autostart(CMD, platform="darwin", home=tmp_path)
    assert auto.path == tmp_path / "Library" / "LaunchAgents" / "fr.sceau.agent.plist"
    auto.enable()
    data = plistlib.loads(auto.path.read_bytes())
    assert data["Label"] == "fr.sceau.agent" and data["ProgramArguments"] == CMD and data["RunAtLoad"] is True
    if shutil.which("xmllint"):  # an independent XML parser
        assert subprocess.run(["xmllint", "--noout", str(auto.path)]).returncode == 0
    auto.disable()
    assert not auto.is_enabled()


class DictRegistry:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}

    def get(self, key: str, name: str) -> str | None:
        return self.values.get((key, name))

    def set(self, key: str, name: str, value: str) -> None:
        self.values[(key, name)] = value

    def delete(self, key: str, name: str) -> None:
        self.values.pop((key, name), None)


def test_windows_run_key() -> None:
    reg = DictRegistry()
    auto = Autostart([r"C:\Program Files\Sceau\sceau.exe", "agent"], platform="win32", registry=reg)
    assert auto.path is None and not auto.is_enabled()
    auto.enable()
    assert reg.values == {(RUN_KEY, RUN_VALUE): '"C:\\Program Files\\Sceau\\sceau.exe" agent'}
    assert auto.is_enabled()
    auto.disable()
    assert not auto.is_enabled()


def test_enable_failure_is_a_clear_error(tmp_path: Path) -> None:
    from sceau.errors import SceauError

    (tmp_path / ".config").write_text("a file where a folder should be")
    with pytest.raises(SceauError, match=r"(start with the session|démarrage avec la session)"):
        Autostart(CMD, platform="linux", home=tmp_path).enable()


def test_linux_opt_out_of_the_packages_entry(tmp_path: Path) -> None:
    """The Debian package starts the agent for everyone (/etc/xdg/autostart): a user turns it off with a
    same-named entry saying Hidden=true (XDG Autostart specification), and back on by removing it."""
    system = tmp_path / "etc-xdg-autostart"
    system.mkdir()
    (system / "fr.sceau.agent.desktop").write_text(Autostart(CMD, platform="linux").content())
    auto = Autostart(CMD, platform="linux", home=tmp_path / "home", system_dir=system)
    assert auto.is_enabled()  # from the package, without a user entry
    auto.disable()
    assert not auto.is_enabled()
    assert auto.path is not None and "\nHidden=true\n" in auto.path.read_text()
    auto.enable()
    assert auto.is_enabled() and "Hidden=true" not in auto.path.read_text()
