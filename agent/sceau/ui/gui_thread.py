"""One dedicated thread owns Tk (Tk is not thread-safe); other threads hand it work through queues.

Two kinds of work:
- *dialogs*, shown one at a time in arrival order; the caller blocks until the dialog finishes;
- *calls*, run as soon as the Tk loop is free (tray actions such as the journal viewer, tests that
  read widget texts), even while a dialog is open.

The Tk loop sleeps in `Tcl_DoOneEvent` (threaded Tcl): a worker wakes it by queueing a virtual
event, which Tcl marshals to the owner thread. No periodic timer runs while idle.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sceau.errors import SceauError
from sceau.i18n import _

if TYPE_CHECKING:
    import tkinter as tk

log = logging.getLogger(__name__)
T = TypeVar("T")
WAKE_EVENT = "<<SceauWake>>"


class GuiUnavailable(SceauError):
    """No display, no Tk: the agent must fall back to the terminal or headless UI."""


# A dialog builder gets the root and a `finish` callback taking a result or an exception.
Finish = Callable[[Any], None]
DialogBuilder = Callable[["tk.Tk", Finish], "tk.Toplevel"]


@dataclass
class _DialogJob:
    build: DialogBuilder
    future: Future[Any]
    timeout_s: float | None
    on_timeout: Callable[[], BaseException]


def probe_display(display: str | None = None) -> str:
    """Empty when Tk can open a window here, else a short reason (messages, `sceau doctor`)."""
    import os
    import sys

    has_env = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not (display or has_env):
        return _("no graphical display (DISPLAY is not set)")
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return _("Tk is not installed (python3-tk)")
    return ""


class GuiThread:
    """Owns the Tk root in its own thread. Start once; `close()` ends it."""

    def __init__(self, display: str | None = None) -> None:
        self.display = display  # X display name; None: $DISPLAY
        self._dialogs: queue.Queue[_DialogJob] = queue.Queue()
        self._calls: queue.Queue[tuple[Callable[[tk.Tk], Any], Future[Any]]] = queue.Queue()
        self._root: tk.Tk | None = None
        self._current: _DialogJob | None = None  # the dialog on screen
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the GUI thread; raise GuiUnavailable when Tk cannot open the display."""
        with self._lock:
            if self._thread is not None:
                if not self._thread.is_alive():
                    raise GuiUnavailable(_("The dialog window was closed."))
                return
            reason = probe_display(self.display)
            if reason:
                raise GuiUnavailable(reason)
            self._thread = threading.Thread(target=self._run, name="sceau-gui", daemon=True)
            self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            raise GuiUnavailable(_("cannot open the display: {err}").format(err=self._start_error))

    def close(self) -> None:
        self._closed = True
        if self._root is not None and self._thread is not None and self._thread.is_alive():
            self._wake()
            self._thread.join(timeout=5)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- API for other threads -----------------------------------------------------------------

    def show_dialog(
        self,
        build: DialogBuilder,
        *,
        timeout_s: float | None,
        on_timeout: Callable[[], BaseException],
    ) -> Any:
        """Queue a dialog and block until it finishes; return its result or raise its exception."""
        self.start()
        future: Future[Any] = Future()
        self._dialogs.put(_DialogJob(build, future, timeout_s, on_timeout))
        self._wake()
        if not self.alive:  # ended between start() and put(): nobody will answer
            self._fail_pending()
        return future.result()

    def call(self, fn: Callable[[tk.Tk], T], timeout_s: float | None = 30.0) -> T:
        """Run `fn(root)` on the GUI thread (even while a dialog is open) and return its result."""
        self.start()
        future: Future[T] = Future()
        self._calls.put((fn, future))
        self._wake()
        if not self.alive:
            self._fail_pending()
        return future.result(timeout=timeout_s)

    def _wake(self) -> None:
        root = self._root
        if root is None:
            return
        try:
            # Tcl marshals this to the owner thread (threaded Tcl) and wakes its event loop.
            root.event_generate(WAKE_EVENT, when="tail")
        except RuntimeError as exc:  # the loop has ended
            log.debug("GUI wake failed: %s", exc)

    # -- GUI thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            # Tcl objects must die in the thread that made them: collect the widget/closure
            # cycles here, not later in whichever thread the garbage collector happens to run.
            gc.collect()

    def _loop(self) -> None:
        try:
            import tkinter as tk
            from tkinter import ttk

            root = tk.Tk(screenName=self.display, className="Sceau")
            root.withdraw()
            style = ttk.Style(root)
            if "clam" in style.theme_names() and style.theme_use() == "default":
                style.theme_use("clam")  # the X11 default theme looks dated; native themes stay
            if not root.tk.call("set", "tcl_platform(threaded)"):
                # Non-threaded Tcl cannot receive events from other threads: fall back to a
                # slow timer (only such builds pay for it).
                self._poll(root)
            root.bind(WAKE_EVENT, lambda _e: self._drain(root))
        except BaseException as exc:  # TclError: no display, broken Tk...
            self._start_error = exc
            self._ready.set()
            return
        self._root = root

        def started() -> None:
            # Only now can other threads reach Tcl: marshalled calls need a running loop.
            self._ready.set()
            self._drain(root)

        root.after_idle(started)
        try:
            root.mainloop()
        finally:
            self._root = None
            self._fail_pending()
            with contextlib.suppress(Exception):  # already gone
                root.destroy()

    def _poll(self, root: tk.Tk) -> None:
        self._drain(root)
        root.after(200, lambda: self._poll(root))

    def _drain(self, root: tk.Tk) -> None:
        if self._closed:
            root.quit()
            return
        while True:
            try:
                fn, future = self._calls.get_nowait()
            except queue.Empty:
                break
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(root))
                except BaseException as exc:
                    future.set_exception(exc)
        if self._current is None:
            self._next_dialog(root)

    def _next_dialog(self, root: tk.Tk) -> None:
        try:
            job = self._dialogs.get_nowait()
        except queue.Empty:
            return
        self._current = job
        state: dict[str, Any] = {"done": False, "window": None, "timer": None}

        def finish(result: Any) -> None:
            if state["done"]:
                return
            state["done"] = True
            if state["timer"] is not None:
                root.after_cancel(state["timer"])
            window = state["window"]
            if window is not None:
                try:
                    window.grab_release()
                    window.destroy()
                except Exception:  # noqa: S110 - window already destroyed
                    pass
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)
            self._current = None
            # Next queued dialog, after this callback unwinds.
            root.after_idle(lambda: self._drain(root))

        try:
            state["window"] = job.build(root, finish)
        except BaseException as exc:
            log.exception("dialog failed to build")
            finish(exc)
            return
        if job.timeout_s:
            state["timer"] = root.after(int(job.timeout_s * 1000), lambda: finish(job.on_timeout()))

    def _fail_pending(self) -> None:
        err = GuiUnavailable(_("The dialog window was closed."))
        if self._current is not None and not self._current.future.done():
            self._current.future.set_exception(err)
        for q in (self._dialogs, self._calls):
            while True:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
                future = item.future if isinstance(item, _DialogJob) else item[1]
                if not future.done():
                    future.set_exception(err)
