"""Pick the user interface the agent can offer here: Tk dialogs, else the terminal, else a clear error."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from sceau.i18n import _
from sceau.ui.api import UserInterface
from sceau.ui.gui_thread import GuiUnavailable, probe_display

log = logging.getLogger(__name__)


def gui_unavailable(display: str | None = None) -> str:
    """Empty when the Tk dialogs can work, else why (for `sceau doctor` and messages)."""
    reason = probe_display(display)
    if reason:
        return reason
    try:
        import sceau.ui.dialogs  # noqa: F401 - imports tkinter
    except ImportError:
        return _("Tk is not installed (python3-tk)")
    return ""


def interactive_ui(
    *, timeout_s: float = 120.0, display: str | None = None, stdin: TextIO | None = None
) -> UserInterface:
    """Tk dialogs when a display works; the terminal when run from one; else GuiUnavailable.

    Never crashes on a missing optional dependency: the error says what is missing and how to
    run without it (`--headless`).
    """
    reason = gui_unavailable(display)
    if not reason:
        from sceau.ui.dialogs import TkUserInterface

        ui = TkUserInterface(timeout_s=timeout_s)
        try:
            ui.start()
            return ui
        except GuiUnavailable as exc:
            reason = exc.message
    stream = stdin or sys.stdin
    if stream is not None and stream.isatty():
        from sceau.ui.terminal import TerminalUI

        log.info("graphical dialogs unavailable (%s): asking in the terminal", reason)
        return TerminalUI(stdin=stream)
    raise GuiUnavailable(
        _(
            "The agent cannot ask you anything here ({reason}). Run it in a graphical session, or use --headless."
        ).format(reason=reason)
    )
