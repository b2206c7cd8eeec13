"""The desktop shell around the agent: tray on the main thread, asyncio in a worker thread, Tk
dialogs on their GUI thread, PC/SC events, journal viewer, autostart (DESIGN.md §1).

Usage from `sceau agent` (non-headless)::

    shell = DesktopShell(config, ui)              # ui: TkUserInterface (already started)
    def worker():                                 # runs the asyncio transports
        asyncio.run(serve(config, ui, lock, on_agent=shell.attach, stop=shell.stop_event))
    return shell.run(worker)                      # tray when available, else worker on this thread

`attach(agent, loop)` is called once the agent exists, from the worker thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sceau.config import Config
from sceau.i18n import _
from sceau.store.journal import Journal
from sceau.store.prefs import save_language
from sceau.system.autostart import Autostart
from sceau.tokens.pcsc_monitor import PcscMonitor, agent_handler, rules_from_config, start_card_events
from sceau.ui.menu import TrayState
from sceau.ui.tray import Tray, TrayController, doctor_text, tray_unavailable

log = logging.getLogger(__name__)


class DesktopShell:
    """Owns the tray, the card monitor and the windows; the agent itself runs in `worker`."""

    def __init__(
        self,
        config: Config,
        ui: Any,  # sceau.ui.dialogs.TkUserInterface (Any: importing it needs Tk)
        *,
        journal: Journal | None = None,
        autostart: Autostart | None = None,
        scard: Any = None,  # PC/SC API for tests; None: pyscard
    ) -> None:
        self.config = config
        self.ui = ui
        self.journal = journal or Journal.from_config(config)
        self.stop_event = threading.Event()
        self._scard = scard
        self.monitor: PcscMonitor | None = None
        self.tray: Tray | None = None
        self._agent: Any = None
        self.controller = TrayController(
            certificates=self._certificates,
            autostart=autostart or Autostart(),
            open_journal=self._open_journal,
            show_diagnostic=self._show_diagnostic,
            enable_tls_login=self._enable_tls_login,
            quit=self.request_stop,
            on_language=lambda lang: save_language(config, lang),
        )

    # -- wiring --------------------------------------------------------------------------------

    def attach(self, agent: Any, loop: Any) -> None:
        """Called with the running agent: share its trusted sites, start card events."""
        self._agent = agent
        self.controller.sites = getattr(agent, "sites", None)
        cards: set[str] = set()  # readers holding a card: the icon says "carte insérée" while any does

        def tray_state(event: Any) -> None:
            if event.notification() == {"type": "token-inserted"}:
                cards.add(event.reader)
            else:
                cards.discard(event.reader)
            self.controller.set_state(TrayState.CARD if cards else TrayState.READY)

        if self._scard is None:
            self.monitor = start_card_events(self.config, agent, loop, also=tray_state)
            return
        if not self.config.card_events:
            return
        handler = agent_handler(
            agent.tokens.invalidate, agent.broadcast, loop, getattr(agent.tokens, "card_event", None)
        )

        def on_event(event: Any) -> None:
            tray_state(event)
            handler(event)

        self.monitor = PcscMonitor(on_event, scard=self._scard, rules=rules_from_config(self.config.atr_modules))
        self.monitor.start()

    def _certificates(self) -> list[Any]:
        if self._agent is None:
            return []
        entries: list[Any] = self._agent.tokens.entries()
        return entries

    def _open_journal(self) -> None:
        from sceau.ui.viewers import open_journal

        open_journal(self.ui.gui, self.journal)

    def _show_diagnostic(self) -> None:
        from sceau.ui.viewers import open_text

        # The doctor runs in its own process; do not block the tray's thread while it works.
        threading.Thread(
            target=lambda: open_text(self.ui.gui, _("Sceau — diagnostic"), doctor_text()), daemon=True
        ).start()

    def _enable_tls_login(self) -> None:
        from sceau.ui.tray import tls_login_text
        from sceau.ui.viewers import open_text

        threading.Thread(
            target=lambda: open_text(self.ui.gui, _("Sceau — certificate login in the browsers"), tls_login_text()),
            daemon=True,
        ).start()

    # -- life cycle ----------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Quit: stop the worker (it watches `stop_event`), the monitor and the tray."""
        self.stop_event.set()
        if self.monitor is not None:
            self.monitor.stop()
        if self.tray is not None:
            self.tray.stop()

    def run(self, worker: Callable[[], object]) -> int:
        """Run `worker` (the asyncio transports): in a thread under the tray when a tray can be
        shown, else right here (dialogs still work). Returns when the agent stops."""
        reason = tray_unavailable()
        if reason:
            log.info("no tray icon: %s", reason)
            try:
                worker()
            finally:
                self.request_stop()
            return 0
        self.tray = Tray(self.controller)
        if hasattr(self.ui, "set_notifier"):
            self.ui.set_notifier(self.tray.notify)

        def start_worker() -> None:
            def guarded() -> None:
                try:
                    worker()
                except Exception:
                    log.exception("agent worker failed")
                    self.controller.set_state(TrayState.ERROR, _("the agent stopped"))
                finally:
                    if self.tray is not None:
                        self.tray.stop()

            threading.Thread(target=guarded, name="sceau-asyncio", daemon=True).start()
            notice = self.controller.expiry_notice()
            if notice and self.tray is not None:
                self.tray.notify(notice)

        try:
            self.tray.run(start_worker)
        except Exception:  # a tray that cannot show itself must not take the agent down
            log.exception("tray icon failed; running without it")
            self.tray = None
            try:
                worker()
            finally:
                self.request_stop()
            return 0
        self.request_stop()
        return 0
