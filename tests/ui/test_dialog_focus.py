"""Finding 5, native side: the consent's "Allow" is disarmed when the dialog loses the focus and armed
again only after the delay once it has it back (a click meant for another window cannot approve)."""

from __future__ import annotations

import time
import tkinter as tk
from concurrent.futures import ThreadPoolExecutor

from sceau.protocol.codes import OperationKind
from sceau.ui.api import ConsentRequest
from sceau.ui.dialogs import TkUserInterface
from sceau.ui.gui_thread import GuiThread
from tests.ui.test_dialogs import DOCS, ORIGIN, button_enabled, shown
from tests.ui.ui_helpers import XDriver, wait_until


def test_consent_rearms_after_regaining_focus(gui: GuiThread, xdriver: XDriver, english: None) -> None:
    ui = TkUserInterface(gui, timeout_s=30, arm_delay_s=0.8)
    others: list[tk.Toplevel] = []
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(lambda: ui.confirm(ConsentRequest(ORIGIN, OperationKind.SIGN, DOCS[:1])))
        shown(ui, "Sign the document")
        wait_until(lambda: button_enabled(ui, "Allow"), what="arming delay")

        def steal(root: tk.Tk) -> None:
            other = tk.Toplevel(root)
            other.title("another window")
            tk.Entry(other).pack()
            other.update_idletasks()
            other.focus_force()
            others.append(other)

        gui.call(steal)
        wait_until(lambda: not button_enabled(ui, "Allow"), what="disarmed when the focus left")

        def give_back(root: tk.Tk) -> None:
            for w in root.winfo_children():
                if isinstance(w, tk.Toplevel) and w not in others and w.winfo_ismapped():
                    w.focus_force()

        gui.call(give_back)
        time.sleep(0.3)
        assert not button_enabled(ui, "Allow")  # back in focus, but not armed yet
        xdriver.key("Return")  # a key press arriving right after the focus came back: ignored
        time.sleep(0.2)
        assert not future.done()
        wait_until(lambda: button_enabled(ui, "Allow"), what="re-armed after the delay")
        xdriver.key("Return")
        assert future.result(10).approved
        gui.call(lambda _root: [w.destroy() for w in others])
