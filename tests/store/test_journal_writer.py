"""The agent's journal written behind the responses: in order, fsync'd, nothing lost at close."""

from __future__ import annotations

import threading
from pathlib import Path

from sceau.store.journal import Journal
from sceau.store.journal_writer import BackgroundJournal


def test_records_are_written_in_order_off_the_callers_thread(tmp_path: Path) -> None:
    journal = BackgroundJournal(tmp_path)
    writers: set[str] = set()
    real_append = Journal.append_many
    writes: list[int] = []

    def spy(self: Journal, recs: list[object]) -> None:
        writers.add(threading.current_thread().name)
        writes.append(len(recs))
        real_append(self, recs)  # type: ignore[arg-type]

    Journal.append_many = spy  # type: ignore[method-assign]
    try:
        for i in range(50):
            journal.record(origin="https://a.fr", operation="sign", result=f"r{i}")
        journal.close()  # drains the queue
    finally:
        Journal.append_many = real_append  # type: ignore[method-assign]
    assert writers == {"sceau-journal"}
    assert sum(writes) == 50 and len(writes) < 50  # a burst shares writes (and fsyncs)
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
