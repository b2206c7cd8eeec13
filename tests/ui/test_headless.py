"""The agent imports and runs with no pystray, pyscard, Tk, Pillow nor display."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BLOCKER = Path(__file__).parent / "blocked_imports"

PROBE = """
import importlib
for name in ("tkinter", "pystray", "smartcard.scard", "PIL"):
    try:
        importlib.import_module(name)
        print("IMPORTED", name)
    except ImportError:
        pass
import sceau.app, sceau.system.autostart, sceau.store.journal, sceau.store.sites
import sceau.tokens.pcsc_monitor, sceau.ui.factory, sceau.ui.menu, sceau.ui.tray, sceau.ui.terminal
from sceau.errors import SceauError
from sceau.i18n import set_language
set_language("en")
print("TRAY:", sceau.ui.tray.tray_unavailable())
print("PCSC:", sceau.tokens.pcsc_monitor.pcsc_unavailable())
print("GUI:", sceau.ui.factory.gui_unavailable())
try:
    sceau.ui.factory.interactive_ui()
except SceauError as exc:
    print("UI:", exc.message)
"""


def blocked_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(BLOCKER) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
        SCEAU_LANG="en",
    )
    (tmp_path / "run").mkdir(mode=0o700, exist_ok=True)
    return env


def test_imports_degrade_with_clear_messages(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=blocked_env(tmp_path),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert not [line for line in lines if line.startswith("IMPORTED")]  # the blocker works
    assert "TRAY: the tray icon needs the optional packages pystray and Pillow" in out.stdout
    assert "PCSC: card insert/remove events need the optional package pyscard" in out.stdout
    assert "GUI: no graphical display (DISPLAY is not set)" in out.stdout
    assert "UI: The agent cannot ask you anything here (no graphical display" in out.stdout
    assert "Traceback" not in out.stderr


def test_headless_agent_starts_and_stops(tmp_path: Path) -> None:
    env = blocked_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sceau.cli", "agent", "--headless"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if list((tmp_path / "run").rglob("agent.sock")):
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1]
        assert list((tmp_path / "run").rglob("agent.sock")), "the agent did not open its socket"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
