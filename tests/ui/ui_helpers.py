"""Helpers shared by the UI tests: X input driver, screenshots, waiting (imported by name)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
DOC_SCREENSHOTS = REPO / "docs" / "screenshots"


class XDriver:
    """Real X input (xdotool, XTEST) and screenshots (ImageMagick `import`) on the test display."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.env = dict(os.environ, DISPLAY=display)

    def key(self, *keys: str) -> None:
        subprocess.run(["xdotool", "key", "--delay", "40", *keys], env=self.env, check=True)

    def type(self, text: str) -> None:
        subprocess.run(["xdotool", "type", "--delay", "30", text], env=self.env, check=True)

    def click(self, x: int, y: int) -> None:
        subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], env=self.env, check=True)

    def screenshot(self, path: Path, box: tuple[int, int, int, int], margin: int = 16) -> Path:
        """Save the screen area `box` (x, y, width, height) plus a margin as a PNG."""
        if shutil.which("import") is None:
            pytest.skip("ImageMagick `import` is not installed")
        x, y, w, h = box
        x, y = max(0, x - margin), max(0, y - margin)
        geometry = f"{w + 2 * margin}x{h + 2 * margin}+{x}+{y}"
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-window", "root", "-crop", geometry, "+repage", str(path)], env=self.env, check=True)
        return path


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `predicate` (test side only) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def save_screenshot(driver: XDriver, box: tuple[int, int, int, int], name: str, *, doc: bool) -> Path:
    """Artifact under test-artifacts/; French doc screenshots also refreshed when asked.

    `SCEAU_UPDATE_SCREENSHOTS=1 pytest tests/ui` rewrites docs/screenshots/ (committed PNGs) so a
    normal test run does not dirty the tree.
    """
    path = driver.screenshot(ARTIFACTS / f"{name}.png", box)
    if doc and os.environ.get("SCEAU_UPDATE_SCREENSHOTS") == "1":
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SCREENSHOTS / f"{name}.png")
    return path
