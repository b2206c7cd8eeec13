"""Pipelined transfers: upload chunks arriving out of order are appended in order; download chunks
fetched in any order; the announced size is checked against the limits and the free disk space."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from sceau.config import Limits
from sceau.errors import BadRequest, TooLarge
from sceau.protocol.constants import DOWNLOAD_CHUNK
from sceau.store.transfers import MAX_AHEAD, TransferStore


def test_out_of_order_upload_chunks_are_written_in_order() -> None:
    store = TransferStore(Limits())
    parts = [os.urandom(1000 + i) for i in range(6)]
    tid = store.upload_chunk(None, 0, parts[0], False, "offre.zip")["transfer"]
    answers = {}
    for i in (3, 5, 2, 1, 4):  # 5 is the final one, and arrives before 4
        answers[i] = store.upload_chunk(tid, i, parts[i], i == 5)
    assert [i for i, a in answers.items() if a["complete"]] == [4]  # the one that filled the last gap
    data = b"".join(parts)
    assert answers[4]["size"] == len(data) and answers[4]["sha256"] == hashlib.sha256(data).hexdigest()
    t = store.completed_upload(tid)
    assert t.path.read_bytes() == data
    store.close()


def test_duplicate_far_ahead_and_after_final_chunks_are_refused() -> None:
    store = TransferStore(Limits())
    tid = store.upload_chunk(None, 0, b"a", False)["transfer"]
    store.upload_chunk(tid, 2, b"c", False)
    with pytest.raises(BadRequest):
        store.upload_chunk(tid, 2, b"c", False)  # the same chunk twice
    with pytest.raises(BadRequest):
        store.upload_chunk(tid, 1 + MAX_AHEAD, b"z", False)
    store.upload_chunk(tid, 3, b"d", False)
    with pytest.raises(BadRequest, match="after the final"):
        store.upload_chunk(tid, 1, b"b", True)  # final, but 2 and 3 were sent after it
    with pytest.raises(BadRequest):
        store.completed_upload(tid)  # dropped: a page sending chunks past its final one is broken
    store.close()


def test_download_chunks_in_any_order_then_deleted(tmp_path: Path) -> None:
    store = TransferStore(Limits())
    data = os.urandom(3 * DOWNLOAD_CHUNK + 5)
    out = store.new_output_path()
    out.write_bytes(data)
    desc = store.add_download(out, "pli.zip")
    got = {}
    for i in (3, 1, 0):
        got[i], _final = store.fetch_chunk(desc["transfer"], i)
    assert store.fetch_chunk(desc["transfer"], 1)[0] == got[1]  # not deleted yet: chunk 2 is missing
    got[2], final = store.fetch_chunk(desc["transfer"], 2)
    assert not final and b"".join(got[i] for i in range(4)) == data
    with pytest.raises(BadRequest):
        store.fetch_chunk(desc["transfer"], 0)  # every chunk served: gone
    assert list(store.root.iterdir()) == []
    store.close()


def test_announced_size_checked_before_anything_is_written() -> None:
    store = TransferStore(Limits(max_document_bytes=1 << 50, max_total_bytes=1 << 51))
    free = shutil.disk_usage(store.root).free
    with pytest.raises(TooLarge, match="free disk space"):
        store.upload_chunk(None, 0, b"a", False, size=free)  # it and its result would not fit
    with pytest.raises(TooLarge, match="larger than allowed"):
        TransferStore(Limits(max_document_bytes=100)).upload_chunk(None, 0, b"a", False, size=101)
    assert list(store.root.iterdir()) == []
    tid = store.upload_chunk(None, 0, b"a", True, size=1)["transfer"]
    assert store.completed_upload(tid).size == 1
    store.close()
