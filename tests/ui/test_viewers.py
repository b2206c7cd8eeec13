"""Journal viewer and text windows under Xvfb."""

from __future__ import annotations

from pathlib import Path

from sceau.protocol.documents import DocumentInfo
from sceau.store.journal import Journal
from sceau.ui.gui_thread import GuiThread
from sceau.ui.viewers import open_journal, open_text
from tests.ui.ui_helpers import XDriver, save_screenshot, wait_until


def test_journal_viewer_filters_as_you_type(gui: GuiThread, xdriver: XDriver, tmp_path: Path, french: None) -> None:
    journal = Journal(tmp_path)
    doc = DocumentInfo("offre-lot2.pdf", 1000, "cd" * 32)
    journal.record(origin="https://marches.achats.gouv.fr", operation="sign-documents", result="ok", documents=[doc])
    journal.record(origin="https://autre.example", operation="authenticate", result="USER_CANCELLED")
    journal.record(origin="https://marches.achats.gouv.fr", operation="decrypt", result="ok")
    viewer = open_journal(gui, journal)
    rows = gui.call(lambda _root: viewer.rows())
    assert [r[1] for r in rows] == [
        "https://marches.achats.gouv.fr",
        "https://autre.example",
        "https://marches.achats.gouv.fr",
    ]  # newest first
    assert rows[2][4] == "offre-lot2.pdf"
    wait_until(lambda: gui.call(lambda root: root.focus_get() is not None), what="keyboard focus")
    xdriver.type("lot2")
    wait_until(lambda: len(gui.call(lambda _root: viewer.rows())) == 1, what="filtered rows")
    assert gui.call(lambda _root: viewer.rows())[0][2] == "sign-documents"
    box = gui.call(
        lambda _r: (
            viewer.window.winfo_rootx(),
            viewer.window.winfo_rooty(),
            viewer.window.winfo_width(),
            viewer.window.winfo_height(),
        )
    )
    save_screenshot(xdriver, box, "journal", doc=False)
    # Opening again raises the same window instead of stacking a second one.
    assert open_journal(gui, journal) is viewer
    xdriver.key("Escape")
    wait_until(lambda: not gui.call(lambda _r: bool(viewer.window.winfo_exists())), what="window closed")


def test_text_window(gui: GuiThread) -> None:
    open_text(gui, "Diagnostic", "✔ Configuration: ok")

    def texts(root: object) -> list[str]:
        import tkinter as tk

        assert isinstance(root, tk.Tk)
        out = []
        for w in root.winfo_children():
            if isinstance(w, tk.Toplevel) and w.title() == "Diagnostic":
                for child in w.winfo_children():
                    if isinstance(child, tk.Text):
                        out.append(child.get("1.0", "end").strip())
                w.destroy()
        return out

    assert gui.call(texts) == ["✔ Configuration: ok"]
