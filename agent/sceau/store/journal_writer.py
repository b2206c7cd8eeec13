"""The agent's journal, written behind the responses: one writer thread appends and fsyncs, in order.

An fsync costs milliseconds (about 3 ms per record on a loaded disk here, the largest single share
of a `sign-hash` round trip) and `Journal.append` used to run on the agent's event loop, stalling
every connection meanwhile. `BackgroundJournal.append` only queues the record; the thread writes
them with the same lock and fsync as `Journal`, and `close()` (agent shutdown) drains the queue.
Records that arrive within `coalesce_s` of each other share one write and one fsync: a burst of
requests (a batch, a page signing in a loop) wakes the writer once per window, not once per record,
so it no longer competes with the requests that follow for the CPU and the interpreter.
The price: an agent killed outright (SIGKILL, power loss) can lose the records of the last
`coalesce_s` plus one fsync — acceptable for an audit trail of operations the token already performed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from sceau.config import Config
from sceau.store.journal import Journal, JournalRecord

log = logging.getLogger(__name__)

COALESCE_S = 0.02  # records queued within this window after the first share one write and fsync


@dataclass
class BackgroundJournal(Journal):
    _queue: queue.Queue[JournalRecord | None] = field(default_factory=queue.Queue, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _start_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    coalesce_s: float = COALESCE_S

    @classmethod
    def from_config(cls, config: Config) -> BackgroundJournal:
        return cls(config.data_path(), max_bytes=config.journal_max_bytes, keep=config.journal_keep)

    def append(self, rec: JournalRecord) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sceau-journal", daemon=True)
                self._thread.start()
        self._queue.put(rec)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            if batch[0] is not None:
                time.sleep(self.coalesce_s)  # one wake-up per window, however many records it brings
                while True:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
            recs = [r for r in batch if r is not None]
            try:
                Journal.append_many(self, recs)
            except Exception:  # the journal must never break the agent
                log.exception("journal write failed")
            finally:
                for _ in batch:
                    self._queue.task_done()
            if len(recs) < len(batch):  # close() asked: everything before it is written
                return

    def flush(self) -> None:
        """Wait until every queued record is on disk."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        """Drain and stop the writer (agent shutdown)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
