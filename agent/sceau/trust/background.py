"""The running agent's trusted-list refresh: at most once per `trusted_lists_refresh_hours`.

A daemon thread with its own event loop (downloads, XML parsing and signature checks never run
on the agent's loop); it sleeps on an Event between checks, so stopping is immediate and there is
no polling. Failures are logged and leave the cache as it was.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from sceau.config import Config
from sceau.errors import SceauError

log = logging.getLogger(__name__)
CHECK_EVERY_S = 3600.0  # re-read the cache's last refresh (another process may have refreshed)


class BackgroundRefresh:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.stopped = threading.Event()
        self.done = threading.Event()  # set after each check (tests wait on it)
        self.thread = threading.Thread(target=self._run, name="sceau-trusted-lists", daemon=True)

    def start(self) -> BackgroundRefresh:
        if self.config.trusted_lists and self.config.trusted_lists_refresh_hours > 0:
            self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        from sceau.trust.refresh import due, load_signers, refresh

        cfg = self.config
        while not self.stopped.is_set():
            if due(cfg.data_path(), cfg.trusted_lists_refresh_hours):
                try:
                    outcomes = asyncio.run(
                        refresh(
                            cfg.data_path(),
                            url=cfg.trusted_lists_url,
                            signers=load_signers(list(cfg.trusted_lists_signers)),
                            territories=list(cfg.trusted_lists_territories),
                        )
                    )
                    for o in outcomes:
                        log.log(logging.INFO if o.ok else logging.WARNING, "trusted list %s: %s", o.key, o.message)
                except (SceauError, OSError) as exc:
                    log.warning("trusted lists not refreshed: %s", exc)
            self.done.set()
            self.stopped.wait(min(CHECK_EVERY_S, cfg.trusted_lists_refresh_hours * 3600))


def start_background_refresh(config: Config) -> BackgroundRefresh:
    return BackgroundRefresh(config).start()
