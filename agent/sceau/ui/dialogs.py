"""Native dialogs (Tk): consent, PIN, certificate picker — `TkUserInterface` implements `UserInterface`.

Methods are called from worker threads; each dialog is built on the GUI thread (`GuiThread`),
shown modal and on top, one at a time, and the caller blocks until it is answered.
Keyboard: Enter approves / validates, Escape refuses / cancels, Alt+underlined letter presses a
button. Close or cancel → UserCancelled; no answer in time → Timeout.
"""

from __future__ import annotations

import contextlib
import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Callable, Sequence
from pathlib import Path
from tkinter import filedialog, ttk
from typing import Any

from sceau.errors import PinLocked, Timeout, UserCancelled
from sceau.i18n import _
from sceau.tokens.base import CertificateEntry, PinRequest
from sceau.ui import presenter
from sceau.ui.api import CertificateChoice, ConsentDecision, ConsentRequest, SaveRequest, UserInterface
from sceau.ui.gui_thread import Finish, GuiThread

WRAP = 460  # pixels: long origins and names wrap instead of widening the window
ERROR_COLOUR = "#b00020"
WARNING_COLOUR = "#8a5300"
MUTED_COLOUR = "#555555"


def _window(root: tk.Tk, title: str, cancel: Callable[[], None]) -> tk.Toplevel:
    """A modal, on-top dialog window; Escape and the close box cancel."""
    win = tk.Toplevel(root)
    win.title(title)
    win.resizable(False, False)
    win.attributes("-topmost", True)
    win.protocol("WM_DELETE_WINDOW", cancel)
    win.bind("<Escape>", lambda _e: cancel())
    return win


def _show(win: tk.Toplevel, focus: tk.Widget) -> None:
    """Centre on screen, then grab input (modal) and take the keyboard focus."""
    win.update_idletasks()
    w, h = win.winfo_reqwidth(), win.winfo_reqheight()
    x = max(0, (win.winfo_screenwidth() - w) // 2)
    y = max(0, (win.winfo_screenheight() - h) // 3)
    win.geometry(f"+{x}+{y}")
    win.deiconify()
    win.lift()
    win.wait_visibility()
    with contextlib.suppress(tk.TclError):  # another application holds the grab: stay usable
        win.grab_set()
    win.focus_force()
    focus.focus_set()


def _label(parent: tk.Misc, text: str, pady: tuple[int, int] = (0, 0), wrap: int = WRAP, **options: Any) -> ttk.Label:
    label = ttk.Label(parent, text=text, wraplength=wrap, justify="left", **options)
    label.pack(anchor="w", fill="x", pady=pady)
    return label


def _buttons(
    parent: tk.Misc, cancel: tuple[str, Callable[[], None]], accept: tuple[str, Callable[[], None]]
) -> tuple[ttk.Button, ttk.Button]:
    """Cancel / accept buttons, right-aligned, each with an Alt+first-letter mnemonic."""
    row = ttk.Frame(parent)
    row.pack(anchor="e", pady=(14, 0))
    made: list[ttk.Button] = []
    for text, command in (cancel, accept):
        button = ttk.Button(row, text=text, command=command, underline=0)
        button.pack(side="left", padx=(8, 0))
        parent.winfo_toplevel().bind(f"<Alt-{text[:1].lower()}>", _invoker(button))
        made.append(button)
    return made[0], made[1]


def _invoker(button: ttk.Button) -> Callable[[tk.Event[tk.Misc]], object]:
    def invoke(_event: tk.Event[tk.Misc]) -> object:
        return button.invoke()

    return invoke


def _fonts() -> dict[str, tuple[str, int, str]]:
    name = str(tkfont.nametofont("TkDefaultFont").actual()["family"])
    return {
        "domain": (name, 17, "bold"),
        "operation": (name, 13, "bold"),
        "heading": (name, 10, "bold"),
        "small": (name, 9, "normal"),
    }


def build_consent(request: ConsentRequest, arm_delay_s: float) -> Callable[[tk.Tk, Finish], tk.Toplevel]:
    text = presenter.consent_text(request)

    def build(root: tk.Tk, finish: Finish) -> tk.Toplevel:
        fonts = _fonts()
        remember = tk.BooleanVar(root, value=False)
        armed = [False]

        def refuse() -> None:
            finish(UserCancelled(_("The operation was refused.")))

        def allow() -> None:
            if armed[0]:
                finish(ConsentDecision(approved=True, remember=bool(remember.get())))

        win = _window(root, text.title, refuse)
        body = ttk.Frame(win, padding=18)
        body.pack(fill="both", expand=True)
        ttk.Label(body, text=text.site.domain, font=fonts["domain"]).pack(anchor="w")
        _label(body, text.site.origin, foreground=MUTED_COLOUR)
        _label(body, text.asks, pady=(10, 0))
        _label(body, text.operation, font=fonts["operation"])
        if text.documents:
            ttk.Separator(body).pack(fill="x", pady=8)
            _label(body, _("Documents"), font=fonts["heading"])
            if text.names_note:
                _label(body, text.names_note, foreground=WARNING_COLOUR, font=fonts["small"])
            for name, meta in text.documents:
                _label(body, name, pady=(3, 0))
                _label(body, meta, foreground=MUTED_COLOUR, font=fonts["small"])
            if text.more_documents:
                _label(body, text.more_documents, pady=(3, 0))
        if text.parameters:
            ttk.Separator(body).pack(fill="x", pady=8)
            _label(body, _("Signature parameters (from the site)"), font=fonts["heading"])
            for line in text.parameters:
                _label(body, line, pady=(2, 0))
        if text.certificate:
            ttk.Separator(body).pack(fill="x", pady=8)
            _label(body, _("Certificate"), font=fonts["heading"])
            for i, line in enumerate(text.certificate):
                warn = i >= 4  # the optional expiry warning follows the four fixed lines
                _label(body, line, foreground=WARNING_COLOUR if warn else "")
        if text.detail:
            _label(body, text.detail, pady=(8, 0), foreground=WARNING_COLOUR)
        if text.remember:
            ttk.Checkbutton(body, text=text.remember, variable=remember).pack(anchor="w", pady=(10, 0))
        _refuse, allow_btn = _buttons(body, (text.refuse, refuse), (text.approve, allow))
        # A short arming delay: keystrokes meant for the web page must not approve by accident.
        allow_btn.state(["disabled"])

        timer: list[str | None] = [None]

        def arm() -> None:
            timer[0] = None
            armed[0] = True
            if allow_btn.winfo_exists():
                allow_btn.state(["!disabled"])

        def disarm() -> None:
            if timer[0] is not None:
                win.after_cancel(timer[0])
                timer[0] = None
            armed[0] = False
            if allow_btn.winfo_exists():
                allow_btn.state(["disabled"])

        def focus_changed(_event: object = None) -> None:
            # Checked once the focus has settled: losing it disarms, regaining it re-arms after the
            # delay (a click or key press meant for another window must not land on "Allow").
            def check() -> None:
                if not win.winfo_exists():
                    return
                try:
                    focused = win.focus_get()  # None: another application has the focus
                except (KeyError, tk.TclError):
                    focused = None
                inside = focused is not None and focused.winfo_toplevel() is win
                if not inside:
                    disarm()
                elif not armed[0] and timer[0] is None:
                    timer[0] = win.after(int(arm_delay_s * 1000), arm)

            win.after_idle(check)

        timer[0] = win.after(int(arm_delay_s * 1000), arm)
        win.bind("<FocusOut>", focus_changed, add="+")
        win.bind("<FocusIn>", focus_changed, add="+")
        win.bind("<Return>", lambda _e: allow())
        win.bind("<KP_Enter>", lambda _e: allow())
        _show(win, allow_btn)
        return win

    return build


def build_pin(request: PinRequest) -> Callable[[tk.Tk, Finish], tk.Toplevel]:
    text = presenter.pin_text(request)

    def build(root: tk.Tk, finish: Finish) -> tk.Toplevel:
        fonts = _fonts()
        if text.locked:

            def close() -> None:
                finish(PinLocked(text.locked))

            win = _window(root, text.title, close)
            body = ttk.Frame(win, padding=18)
            body.pack(fill="both", expand=True)
            _label(body, text.token, font=fonts["heading"])
            _label(body, text.locked, pady=(8, 0), foreground=ERROR_COLOUR)
            button = ttk.Button(body, text=text.cancel, command=close)
            button.pack(anchor="e", pady=(14, 0))
            win.bind("<Return>", lambda _e: close())
            _show(win, button)
            return win

        secret = tk.StringVar(root)

        def cancel() -> None:
            secret.set("")
            finish(UserCancelled(_("PIN entry cancelled.")))

        def ok() -> None:
            value = secret.get()
            if not value:
                win.bell()
                return
            secret.set("")  # do not leave the PIN in the Tcl variable longer than needed
            finish(value)

        win = _window(root, text.title, cancel)
        body = ttk.Frame(win, padding=18)
        body.pack(fill="both", expand=True)
        _label(body, text.prompt, font=fonts["heading"])
        _label(body, text.token, foreground=MUTED_COLOUR)
        if text.error:
            _label(body, text.error, pady=(6, 0), foreground=ERROR_COLOUR)
        if text.warning:
            _label(body, text.warning, foreground=WARNING_COLOUR)
        entry = ttk.Entry(body, textvariable=secret, show="•", width=28)
        entry.pack(anchor="w", fill="x", pady=(10, 0))
        _buttons(body, (text.cancel, cancel), (text.ok, ok))
        win.bind("<Return>", lambda _e: ok())
        win.bind("<KP_Enter>", lambda _e: ok())
        _show(win, entry)
        return win

    return build


def build_picker(choice: CertificateChoice) -> Callable[[tk.Tk, Finish], tk.Toplevel]:
    site = presenter.site_text(choice.origin)
    operation = presenter.operation_title(choice.operation, 0)
    candidates: Sequence[CertificateEntry] = list(choice.candidates)

    def build(root: tk.Tk, finish: Finish) -> tk.Toplevel:
        fonts = _fonts()

        def cancel() -> None:
            finish(UserCancelled(_("No certificate was chosen.")))

        def choose() -> None:
            selected = tree.selection()
            if selected:
                finish(candidates[int(selected[0])])

        win = _window(root, _("Sceau — choose a certificate"), cancel)
        body = ttk.Frame(win, padding=18)
        body.pack(fill="both", expand=True)
        ttk.Label(body, text=site.domain, font=fonts["domain"]).pack(anchor="w")
        _label(body, site.origin, foreground=MUTED_COLOUR)
        _label(body, operation, pady=(8, 0))
        _label(body, _("Several certificates fit. Choose the one to use:"), (8, 4), 660, font=fonts["heading"])
        columns = ("holder", "issuer", "expiry", "token")
        tree = ttk.Treeview(body, columns=columns, show="headings", selectmode="browse", height=len(candidates))
        titles = (_("Holder"), _("Issued by"), _("Expires on"), _("Token"))
        widths = (190, 240, 95, 150)
        for col, title, width in zip(columns, titles, widths, strict=True):
            tree.heading(col, text=title, anchor="w")
            tree.column(col, width=width, anchor="w")
        first_ok: int | None = None  # preselect the first certificate that needs no warning
        for i, entry in enumerate(candidates):
            tree.insert("", "end", iid=str(i), values=presenter.candidate_columns(entry))
            if first_ok is None and not presenter.expiry_warning(entry):
                first_ok = i
        tree.pack(fill="x")
        tree.selection_set(str(first_ok or 0))
        tree.focus(str(first_ok or 0))
        tree.bind("<Double-1>", lambda _e: choose())
        _buttons(body, (_("Cancel"), cancel), (_("Choose"), choose))
        win.bind("<Return>", lambda _e: choose())
        win.bind("<KP_Enter>", lambda _e: choose())
        _show(win, tree)
        return win

    return build


def widget_texts(widget: tk.Misc) -> list[str]:
    """Every text a window shows (labels, buttons, tree rows), in layout order — tests, a11y checks."""
    out: list[str] = []
    if isinstance(widget, tk.Toplevel):
        out.append(widget.title())
    try:
        text = widget.cget("text")
        if text:
            out.append(str(text))
    except (tk.TclError, AttributeError):
        pass
    if isinstance(widget, ttk.Treeview):
        for iid in widget.get_children():
            out.append(" | ".join(str(v) for v in widget.item(iid, "values")))
    for child in widget.winfo_children():
        out.extend(widget_texts(child))
    return out


class TkUserInterface(UserInterface):
    """Tk dialogs behind the `UserInterface` API; safe to call from any thread."""

    def __init__(
        self,
        gui: GuiThread | None = None,
        *,
        timeout_s: float = 120.0,
        arm_delay_s: float = 0.6,
        notifier: Callable[[str], None] | None = None,
    ) -> None:
        # Tcl does not survive its thread being torn down and restarted in one process (the
        # notifier hangs), so a GuiThread normally lives as long as the process; close() only
        # ends the one we created ourselves.
        self._owns_gui = gui is None
        self.gui = gui or GuiThread()
        self.timeout_s = timeout_s
        self.arm_delay_s = arm_delay_s
        self._notifier = notifier

    def start(self) -> None:
        """Open the display now (raises GuiUnavailable with the reason)."""
        self.gui.start()

    def _timeout(self) -> BaseException:
        return Timeout(_("No answer in time: the request was cancelled."))

    def confirm(self, request: ConsentRequest) -> ConsentDecision:
        result: ConsentDecision = self.gui.show_dialog(
            build_consent(request, self.arm_delay_s), timeout_s=self.timeout_s, on_timeout=self._timeout
        )
        return result

    def ask_pin(self, request: PinRequest) -> str:
        if request.pinpad:  # typed on the reader: a notice, no PIN dialog
            from sceau.ui.api import pinpad_notice

            self.notify(pinpad_notice(request))
            return ""
        pin: str = self.gui.show_dialog(build_pin(request), timeout_s=self.timeout_s, on_timeout=self._timeout)
        return pin

    def choose_certificate(self, choice: CertificateChoice) -> CertificateEntry:
        if len(choice.candidates) == 1:
            return choice.candidates[0]
        entry: CertificateEntry = self.gui.show_dialog(
            build_picker(choice), timeout_s=self.timeout_s, on_timeout=self._timeout
        )
        return entry

    def ask_save_path(self, request: SaveRequest) -> Path:
        """The platform's save dialog (Tk's own on X11), on the GUI thread; it asks before replacing."""
        site = presenter.site_text(request.origin)

        def ask(root: tk.Tk) -> str:
            title = _("Save the decrypted file — {domain}").format(domain=site.domain)
            return filedialog.asksaveasfilename(parent=root, title=title, initialfile=request.suggested_name)

        chosen = self.gui.call(ask, timeout_s=self.timeout_s)
        if not chosen:
            raise UserCancelled(_("No file was chosen."))
        return Path(chosen)

    def set_notifier(self, notifier: Callable[[str], None] | None) -> None:
        """Where `notify` goes (the tray's balloon once the tray exists)."""
        self._notifier = notifier

    def notify(self, message: str) -> None:
        if self._notifier is not None:
            self._notifier(message)

    def current_texts(self) -> list[str]:
        """Texts of the dialogs on screen (tests and diagnostics)."""

        def collect(root: tk.Tk) -> list[str]:
            out: list[str] = []
            for child in root.winfo_children():
                if isinstance(child, tk.Toplevel) and child.winfo_ismapped():
                    out.extend(widget_texts(child))
            return out

        return self.gui.call(collect)

    def close(self) -> None:
        if self._owns_gui:
            self.gui.close()


# The name `sceau agent` looks for (cli_agent); same class.
