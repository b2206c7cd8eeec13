"""Xvfb display, Tk dialogs and an X input driver (xdotool) for the UI tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from sceau.i18n import current_language, set_language
from sceau.ui.gui_thread import GuiThread
from tests.ui.ui_helpers import XDriver


@pytest.fixture(scope="session")
def xvfb() -> Iterator[str]:
    """A private X server; its display name is passed explicitly (no global DISPLAY change)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        number = fh.readline().strip()
    if not number:
        proc.kill()
        pytest.skip("Xvfb did not start")
    yield f":{number}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def gui(xvfb: str) -> Iterator[GuiThread]:
    """One GUI thread for the whole session, as in the agent (Tcl threads are not restartable)."""
    thread = GuiThread(display=xvfb)
    thread.start()
    yield thread
    thread.close()


@pytest.fixture
def french() -> Iterator[None]:
    previous = current_language()
    set_language("fr")
    yield
    set_language(previous)


@pytest.fixture
def english() -> Iterator[None]:
    previous = current_language()
    set_language("en")
    yield
    set_language(previous)


@pytest.fixture
def xdriver(xvfb: str) -> XDriver:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed")
    return XDriver(xvfb)
