"""The agent's journal written behind the responses: in order, fsync'd, nothing lost at close."""

from __future__ import annotations

import threading
from pathlib import Path

from sceau.store.journal import Journal
from sceau.store.journal_writer import BackgroundJournal


def test_records_are_written_in_order_off_the_callers_thread(tmp_path: Path) -> None:
    journal = BackgroundJournal(tmp_path)
    writers: set[str] = set()
    real_append = Journal.append

    def spy(self: Journal, rec: object) -> None:
        writers.add(threading.current_thread().name)
        real_append(self, rec)  # type: ignore[arg-type]

    Journal.append = spy  # type: ignore[method-assign]
    try:
        for i in range(50):
            journal.record(origin="https://a.fr", operation="sign", result=f"r{i}")
        journal.close()  # drains the queue
    finally:
        Journal.append = real_append  # type: ignore[method-assign]
    assert writers == {"sceau-journal"}
    assert [r.result for r in Journal(tmp_path).read()] == [f"r{i}" for i in range(50)]


def test_flush_waits_and_a_closed_journal_restarts_on_demand(tmp_path: Path) -> None:
    journal = BackgroundJournal(tmp_path)
    journal.record(origin="https://a.fr", operation="decrypt", result="ok")
    journal.flush()
    assert len(list(Journal(tmp_path).read())) == 1
    journal.close()
    journal.record(origin="https://a.fr", operation="decrypt", result="ok")
    journal.close()
    assert len(list(Journal(tmp_path).read())) == 2
