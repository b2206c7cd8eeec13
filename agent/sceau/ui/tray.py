"""System tray: icon state and menu (pystray, on the main thread); actions via `TrayController`.

DESIGN.md §1: pystray owns the main thread, asyncio runs in a worker thread started from the
tray's setup callback, Tk dialogs live on their own GUI thread. pystray is optional: without it
(or without a display) `tray_unavailable()` says why and the agent runs headless or with dialogs
only. pystray is imported lazily because it opens the display at import time.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sceau.errors import SceauError
from sceau.i18n import _, current_language, set_language
from sceau.ui.menu import Action, MenuItem, TrayModel, TrayState, build_menu, expiring, state_text

if TYPE_CHECKING:
    from PIL.Image import Image

    from sceau.store.sites import TrustedSites
    from sceau.system.autostart import Autostart
    from sceau.tokens.base import CertificateEntry

log = logging.getLogger(__name__)

STATE_COLOURS = {
    TrayState.READY: "#2e7d32",
    TrayState.CARD: "#1565c0",
    TrayState.BUSY: "#ef6c00",
    TrayState.ERROR: "#c62828",
}


def tray_unavailable() -> str:
    """Empty when a tray icon can be shown, else a short reason for the user."""
    try:
        import PIL  # noqa: F401
        import pystray
    except ImportError:
        return _("the tray icon needs the optional packages pystray and Pillow (pip install 'sceau[gui]')")
    except Exception as exc:  # pystray opens the display on import (Xlib errors, no DISPLAY...)
        return _("no system tray available: {err}").format(err=type(exc).__name__)
    if pystray.Icon.__module__.endswith("_xorg") and not _x11_tray_manager():
        return _("this desktop has no notification area")
    return ""


def _x11_tray_manager() -> bool:
    """Whether an X11 notification area (system tray manager) runs: without one pystray's X11
    backend fails to dock and logs errors forever, so we run without the icon instead."""
    try:
        from Xlib import X
        from Xlib import display as xdisplay

        d = xdisplay.Display()
        try:
            atom = d.intern_atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}")
            return bool(d.get_selection_owner(atom) != X.NONE)
        finally:
            d.close()
    except Exception:  # cannot tell: let pystray try
        return True


class TrayController:
    """Tray state and actions, independent of pystray (tested without a display)."""

    def __init__(
        self,
        *,
        certificates: Callable[[], Sequence[CertificateEntry]] = lambda: (),
        sites: TrustedSites | None = None,
        autostart: Autostart | None = None,
        open_journal: Callable[[], None] = lambda: None,
        show_diagnostic: Callable[[], None] = lambda: None,
        enable_tls_login: Callable[[], None] = lambda: None,
        quit: Callable[[], None] = lambda: None,
        on_language: Callable[[str], None] | None = None,
    ) -> None:
        self._certificates = certificates
        self.sites = sites
        self.autostart = autostart
        self._open_journal = open_journal
        self._show_diagnostic = show_diagnostic
        self._enable_tls_login = enable_tls_login
        self._quit = quit
        self._on_language = on_language
        self.state = TrayState.READY
        self.error = ""
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Called after the state changes (the tray redraws its icon)."""
        self._listeners.append(callback)

    def set_state(self, state: TrayState, error: str = "") -> None:
        with self._lock:
            self.state, self.error = state, error
        for cb in list(self._listeners):
            cb()

    def model(self) -> TrayModel:
        try:
            certs = list(self._certificates())
        except SceauError as exc:
            log.info("tray: certificates unavailable: %s", exc.message)
            certs = []
        return TrayModel(
            state=self.state,
            certificates=certs,
            sites=self.sites.list() if self.sites is not None else (),
            language=current_language(),
            autostart=self.autostart.is_enabled() if self.autostart is not None else False,
            error=self.error,
        )

    def menu(self) -> tuple[MenuItem, ...]:
        return build_menu(self.model())

    def expiry_notice(self) -> str:
        """A sentence for a notification when certificates need renewal ("" when none)."""
        soon = expiring(self.model())
        if not soon:
            return ""
        names = ", ".join(e.subject_cn for e in soon)
        return _("Certificates to renew soon: {names}").format(names=names)

    def dispatch(self, action: Action, payload: str = "") -> None:
        """Run a menu action; errors are logged and shown as the error state, never raised."""
        try:
            self._dispatch(action, payload)
        except SceauError as exc:
            self.set_state(TrayState.ERROR, exc.message)
        for cb in list(self._listeners):
            cb()

    def _dispatch(self, action: Action, payload: str) -> None:
        if action is Action.REVOKE_SITE and self.sites is not None:
            self.sites.revoke(payload)
        elif action is Action.REVOKE_ALL_SITES and self.sites is not None:
            for origin in {g.origin for g in self.sites.list() if not g.managed}:
                self.sites.revoke(origin)
        elif action is Action.OPEN_JOURNAL:
            self._open_journal()
        elif action is Action.SET_LANGUAGE:
            set_language(payload)
            if self._on_language is not None:
                self._on_language(payload)
        elif action is Action.TOGGLE_AUTOSTART and self.autostart is not None:
            if self.autostart.is_enabled():
                self.autostart.disable()
            else:
                self.autostart.enable()
        elif action is Action.DIAGNOSTIC:
            self._show_diagnostic()
        elif action is Action.TLS_LOGIN:
            self._enable_tls_login()
        elif action is Action.QUIT:
            self._quit()


def _cli_output(args: list[str], timeout: float, failed: str) -> str:
    """What a `sceau` command prints, for a tray window (its own process: no shared stdout)."""
    try:
        command = [sys.executable, "-m", "sceau.cli", *args]
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return failed.format(err=exc)
    return (out.stdout + out.stderr).strip()


def tls_login_text() -> str:
    """What `sceau browsers enable-tls-login` did, for the tray's window."""
    return _cli_output(["browsers", "enable-tls-login"], 180, _("The command could not run: {err}"))


def doctor_text() -> str:
    """What `sceau doctor` says, for the Diagnostic window."""
    return _cli_output(["doctor"], 60, _("The diagnostic could not run: {err}"))


def icon_image(state: TrayState, size: int = 64) -> Image:
    """A round seal in the state's colour with a white "S" (drawn, no image files to ship)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    pad = size // 16
    draw.ellipse((pad, pad, size - pad, size - pad), fill=STATE_COLOURS[state], outline="white", width=max(1, pad))
    draw.text((size / 2, size / 2), "S", fill="white", anchor="mm", font_size=int(size * 0.55))
    return img


def to_pystray(items: Sequence[MenuItem], dispatch: Callable[[Action, str], None], pystray: Any) -> list[Any]:
    """Convert menu items to pystray items (`pystray` is the imported module)."""
    out: list[Any] = []
    for item in items:
        if item.separator:
            out.append(pystray.Menu.SEPARATOR)
            continue
        if item.children:
            out.append(pystray.MenuItem(item.label, pystray.Menu(*to_pystray(item.children, dispatch, pystray))))
            continue
        out.append(
            pystray.MenuItem(
                item.label,
                _runner(dispatch, item.action, item.payload),
                checked=None if item.checked is None else _constant(item.checked),
                radio=item.radio,
                enabled=item.enabled,
            )
        )
    return out


def _runner(dispatch: Callable[[Action, str], None], action: Action | None, payload: str) -> Callable[[Any, Any], None]:
    # pystray inspects the callback's argument count: exactly (icon, item).
    def run(_icon: Any, _item: Any) -> None:
        if action is not None:
            dispatch(action, payload)

    return run


def _constant(value: bool) -> Callable[[Any], bool]:
    def checked(_item: Any) -> bool:
        return value

    return checked


class Tray:
    """The pystray icon. `run()` blocks the main thread until Quit."""

    def __init__(self, controller: TrayController) -> None:
        self.controller = controller
        self._icon: Any = None
        controller.add_listener(self.refresh)

    def run(self, setup: Callable[[], None]) -> None:
        """Show the icon, call `setup` (start the asyncio worker) from pystray's thread, and loop."""
        import pystray

        def dynamic_menu() -> list[Any]:
            # Rebuilt each time the menu opens: sites, certificates and language stay current.
            return to_pystray(self.controller.menu(), self.controller.dispatch, pystray)

        self._icon = pystray.Icon(
            "sceau",
            icon=icon_image(self.controller.state),
            title=x11_safe(state_text(TrayModel(self.controller.state, error=self.controller.error))),
            menu=pystray.Menu(lambda: iter(dynamic_menu())),
        )

        def started(icon: Any) -> None:
            icon.visible = True
            setup()

        self._icon.run(setup=started)

    def refresh(self) -> None:
        icon = self._icon
        if icon is None:
            return
        icon.icon = icon_image(self.controller.state)
        icon.title = x11_safe(state_text(TrayModel(self.controller.state, error=self.controller.error)))
        icon.update_menu()

    def notify(self, message: str) -> None:
        if self._icon is not None and getattr(self._icon, "HAS_NOTIFICATION", False):
            self._icon.notify(message, "Sceau")

    def stop(self) -> None:
        if self._icon is not None:
            self._icon.stop()


def x11_safe(text: str) -> str:
    """pystray's X11 backend sets the window name as a Latin-1 STRING: typographic dashes and
    quotes would crash it, so they become their ASCII forms (accents are Latin-1 and stay)."""
    text = text.replace("\u2014", "-").replace("\u2013", "-").replace("\u2019", "'").replace("\u2026", "...")
    return text.encode("latin-1", "replace").decode("latin-1")
