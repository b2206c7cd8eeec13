"""Journal: append-only JSON Lines, rotation, concurrency, crash mid-write, no secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sceau.protocol.codes import OperationKind
from sceau.protocol.documents import DocumentInfo
from sceau.store.journal import Journal, JournalRecord
from sceau.ui.api import ConsentRequest

DOC = DocumentInfo(name="offre-technique.pdf", size=123456, sha256_hex="ab" * 32)


def jq_lines(path: Path) -> list[dict[str, object]]:
    """Parse the file with jq (an independent JSON parser), one compact object per line."""
    out = subprocess.run(["jq", "-c", "."], input=path.read_bytes(), capture_output=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_record_and_read(tmp_path: Path) -> None:
    j = Journal(tmp_path, clock=lambda: datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    j.record(origin="https://marches.example.fr", operation="sign", result="ok", documents=[DOC])
    j.record(origin="https://autre.example", operation="authenticate", result="USER_CANCELLED")
    recs = list(j.read())
    assert [r.origin for r in recs] == ["https://marches.example.fr", "https://autre.example"]
    assert recs[0].documents == (DOC,)
    assert recs[1].result == "USER_CANCELLED"
    lines = jq_lines(j.path)
    assert lines[0]["time"] == "2026-11-23T09:30:00.000+00:00"
    assert lines[0]["documents"] == [{"name": "offre-technique.pdf", "size": 123456, "sha256": "ab" * 32}]
    assert set(lines[0]) == {
        "time",
        "origin",
        "operation",
        "result",
        "documents",
        "certificate",
        "detail",
        "durationMs",
    }
    if os.name == "posix":
        assert j.path.stat().st_mode & 0o777 == 0o600


def test_record_consent_with_certificate(tmp_path: Path, pki_entry: object) -> None:
    from sceau.tokens.base import CertificateEntry

    assert isinstance(pki_entry, CertificateEntry)
    j = Journal(tmp_path)
    req = ConsentRequest("https://a.example", OperationKind.SIGN, (DOC,), pki_entry)
    j.record_consent(req, "ok")
    rec = next(iter(j.read()))
    assert rec.certificate_fingerprint == pki_entry.fingerprint
    assert rec.certificate_subject == pki_entry.subject_cn
    assert rec.operation == "sign"


def test_filter_and_tail(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    for i in range(5):
        j.record(origin=f"https://site{i}.example", operation="sign", result="ok", documents=[DOC])
    assert [r.origin for r in j.tail(limit=2)] == ["https://site4.example", "https://site3.example"]
    assert [r.origin for r in j.read("SITE2")] == ["https://site2.example"]
    assert len(list(j.read("offre-tech"))) == 5
    assert list(j.read("nothing-like-this")) == []


def test_control_characters_and_long_names_cleaned(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.record(origin="https://a.example", operation="sign", result="ok", detail="x\ny\x00" + "z" * 1000)
    (line,) = j.path.read_text().splitlines()
    rec = JournalRecord.from_json(json.loads(line))
    assert "\n" not in rec.detail and "\x00" not in rec.detail
    assert len(rec.detail) == 300


def test_rotation_keeps_bounded_files(tmp_path: Path) -> None:
    j = Journal(tmp_path, max_bytes=2000, keep=2)
    for i in range(60):
        j.record(origin="https://a.example", operation="sign", result="ok", detail=f"n{i}")
    files = j.files()
    assert [p.name for p in files] == ["journal.2.jsonl", "journal.1.jsonl", "journal.jsonl"]
    assert all(p.stat().st_size <= 2000 for p in files)
    details = [r.detail for r in j.read()]
    assert details[-1] == "n59"
    assert details == sorted(details, key=lambda d: int(d[1:]))  # order kept across files
    assert len(details) < 60  # the oldest went away with the third rotation


def test_concurrent_threads(tmp_path: Path) -> None:
    j = Journal(tmp_path)

    def work(i: int) -> None:
        for k in range(25):
            j.record(origin=f"https://t{i}.example", operation="sign", result="ok", detail=str(k))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(jq_lines(j.path)) == 150


WRITER = """
import sys
from pathlib import Path
from sceau.store.journal import Journal
j = Journal(Path(sys.argv[1]), max_bytes=int(sys.argv[3]))
n = int(sys.argv[2])
i = 0
while n < 0 or i < n:
    j.record(origin="https://p.example", operation="sign", result="ok", detail="w" * 200 + str(i))
    i += 1
"""


def test_concurrent_processes_with_rotation(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "40", "20000"]) for _ in range(4)]
    assert all(p.wait(60) == 0 for p in procs)
    j = Journal(tmp_path)
    total = sum(len(jq_lines(p)) for p in j.files())  # every line of every file parses
    assert total == 160


def test_kill_9_mid_write_leaves_readable_journal(tmp_path: Path) -> None:
    """Writers killed at arbitrary points; the journal stays readable and appendable."""
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "-1", str(10**9)])
        deadline = time.monotonic() + 20
        j = Journal(tmp_path)
        start = j.path.stat().st_size if j.path.exists() else 0
        while time.monotonic() < deadline and (not j.path.exists() or j.path.stat().st_size < start + 5000):
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = len(list(Journal(tmp_path).read()))
    assert before > 0
    Journal(tmp_path).record(origin="https://after.example", operation="sign", result="ok")
    recs = list(Journal(tmp_path).read())
    assert recs[-1].origin == "https://after.example"
    assert len(recs) == before + 1


def test_torn_last_line_is_skipped_and_next_record_starts_clean(tmp_path: Path) -> None:
    """A deterministic torn write: half a record then SIGKILL of the writing process."""
    code = (
        "import os, signal, sys\n"
        "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)\n"
        'os.write(fd, b\'{"time": "2026-11-23T10:00:00+00:00", "origin": "https://torn\')\n'
        "os.fsync(fd)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    j = Journal(tmp_path)
    j.record(origin="https://before.example", operation="sign", result="ok")
    proc = subprocess.run([sys.executable, "-c", code, str(j.path)])
    assert proc.returncode == -signal.SIGKILL
    assert [r.origin for r in j.read()] == ["https://before.example"]  # torn line skipped
    j.record(origin="https://after.example", operation="decrypt", result="ok")
    assert [r.origin for r in j.read()] == ["https://before.example", "https://after.example"]
    lines = j.path.read_text().splitlines()
    assert len(lines) == 3 and lines[1].startswith('{"time": "2026')  # the torn line stayed alone


@pytest.fixture
def pki_entry(tmp_path_factory: pytest.TempPathFactory) -> object:
    from sceau.devkit import pki as devpki
    from sceau.tokens.pkcs12 import Pkcs12Token

    pki = devpki.generate(tmp_path_factory.mktemp("pki"))
    token = Pkcs12Token(pki["sign-rsa2048"].p12, password=devpki.P12_PASSWORD)
    return token.certificates()[0]
