"""Non-modal windows opened from the tray: the journal viewer (with a filter) and text reports.

Built on the GUI thread through `GuiThread.call`; they do not block dialogs (which are modal
and queued separately).
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

from sceau.i18n import _
from sceau.store.journal import Journal, JournalRecord
from sceau.ui.gui_thread import GuiThread

COLUMNS = ("time", "site", "operation", "result", "documents", "certificate")
MAX_ROWS = 1000


def record_row(rec: JournalRecord) -> tuple[str, ...]:
    docs = ", ".join(d.name for d in rec.documents)
    when = rec.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return (when, rec.origin, rec.operation, rec.result, docs, rec.certificate_subject)


class JournalViewer:
    """The journal window: newest first, a filter box that narrows rows as you type."""

    def __init__(self, root: tk.Tk, journal: Journal) -> None:
        self.journal = journal
        self.window = tk.Toplevel(root)
        self.window.title(_("Sceau — journal"))
        self.window.geometry("900x420")
        self.window.bind("<Escape>", lambda _e: self.window.destroy())
        top = ttk.Frame(self.window, padding=(10, 10, 10, 4))
        top.pack(fill="x")
        ttk.Label(top, text=_("Filter:")).pack(side="left")
        self.filter = tk.StringVar(self.window)
        entry = ttk.Entry(top, textvariable=self.filter, width=40)
        entry.pack(side="left", padx=6)
        ttk.Button(top, text=_("Refresh"), command=self.refresh).pack(side="left")
        self.count = ttk.Label(top, text="")
        self.count.pack(side="right")
        frame = ttk.Frame(self.window, padding=(10, 0, 10, 10))
        frame.pack(fill="both", expand=True)
        self.tree = ttk.Treeview(frame, columns=COLUMNS, show="headings")
        titles = (_("Date"), _("Site"), _("Operation"), _("Result"), _("Documents"), _("Certificate"))
        for col, title, width in zip(COLUMNS, titles, (140, 200, 110, 110, 200, 140), strict=True):
            self.tree.heading(col, text=title, anchor="w")
            self.tree.column(col, width=width, anchor="w")
        scroll = ttk.Scrollbar(frame, orient="vertical", command=self.tree.yview)
        self.tree.configure(yscrollcommand=scroll.set)
        self.tree.pack(side="left", fill="both", expand=True)
        scroll.pack(side="right", fill="y")
        self.filter.trace_add("write", lambda *_a: self.refresh())
        self.refresh()
        self.window.lift()

        # Take the keyboard once mapped (the tray click gave focus to the panel, not to us).
        def take_focus(_event: object) -> None:
            self.window.focus_force()
            entry.focus_set()

        self.window.bind("<Map>", take_focus, add="+")

    def refresh(self) -> None:
        self.tree.delete(*self.tree.get_children())
        records = self.journal.tail(limit=MAX_ROWS, text_filter=self.filter.get())
        for rec in records:
            self.tree.insert("", "end", values=record_row(rec))
        self.count.configure(text=_("{n} entries").format(n=len(records)))

    def rows(self) -> list[tuple[str, ...]]:
        return [tuple(str(v) for v in self.tree.item(i, "values")) for i in self.tree.get_children()]


def open_journal(gui: GuiThread, journal: Journal) -> JournalViewer:
    """Open (or raise) the journal window; safe from any thread."""

    def build(root: tk.Tk) -> JournalViewer:
        existing: JournalViewer | None = getattr(root, "_sceau_journal", None)
        if existing is not None and existing.window.winfo_exists():
            existing.refresh()
            existing.window.deiconify()
            existing.window.lift()
            return existing
        viewer = JournalViewer(root, journal)
        root._sceau_journal = viewer  # type: ignore[attr-defined]  # one window per agent
        return viewer

    return gui.call(build)


def open_text(gui: GuiThread, title: str, text: str) -> None:
    """A read-only, selectable text window (the Diagnostic)."""

    def build(root: tk.Tk) -> None:
        win = tk.Toplevel(root)
        win.title(title)
        win.bind("<Escape>", lambda _e: win.destroy())
        body = tk.Text(win, width=100, height=30, wrap="word", padx=10, pady=10)
        body.insert("1.0", text)
        body.configure(state="disabled")
        body.pack(fill="both", expand=True)
        ttk.Button(win, text=_("Close"), command=win.destroy).pack(anchor="e", padx=10, pady=8)

    gui.call(build)
