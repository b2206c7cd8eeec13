"""Loaded through PYTHONPATH by test_headless: the optional GUI/PC-SC modules cannot be imported."""

import importlib.abc
import sys

BLOCKED = ("tkinter", "_tkinter", "pystray", "smartcard", "PIL", "Xlib")


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked for this test")
        return None


sys.meta_path.insert(0, _Blocker())
