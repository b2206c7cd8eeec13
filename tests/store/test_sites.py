"""Trusted sites store: grants per origin and operation class, atomic shared file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sceau.errors import InvalidInput
from sceau.protocol.codes import OperationKind
from sceau.store.sites import TrustedSites, site_key


def fixed_clock() -> datetime:
    return datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_grant_check_revoke(tmp_path: Path) -> None:
    sites = TrustedSites(tmp_path, clock=fixed_clock)
    assert not sites.is_allowed("https://marches.example.fr", "authenticate")
    sites.grant("https://marches.example.fr", ["authenticate", OperationKind.SIGN])
    assert sites.is_allowed("https://marches.example.fr", OperationKind.AUTHENTICATE)
    assert sites.is_allowed("https://MARCHES.example.fr:443", OperationKind.SIGN)  # normalized
    with pytest.raises(InvalidInput):  # a command name is not an operation class
        sites.is_allowed("https://marches.example.fr", "sign-documents")
    assert not sites.is_allowed("https://marches.example.fr", "decrypt")
    assert not sites.is_allowed("https://evil.example.fr", "authenticate")
    assert not sites.is_allowed("http://marches.example.fr", "authenticate")  # scheme matters
    grants = sites.list()
    assert [(g.origin, g.operation) for g in grants] == [
        ("https://marches.example.fr", OperationKind.AUTHENTICATE),
        ("https://marches.example.fr", OperationKind.SIGN),
    ]
    assert grants[0].granted_at == fixed_clock()
    assert grants[0].to_json()["grantedAt"] == "2026-11-23T10:00:00+00:00"

    assert sites.revoke("https://marches.example.fr", ["sign"]) == 1
    assert not sites.is_allowed("https://marches.example.fr", "sign")
    assert sites.is_allowed("https://marches.example.fr", "authenticate")
    assert sites.revoke("https://marches.example.fr") == 1
    assert sites.list() == []
    assert sites.revoke("https://marches.example.fr") == 0


def test_persisted_and_shared_between_instances(tmp_path: Path) -> None:
    a = TrustedSites(tmp_path)
    b = TrustedSites(tmp_path)
    a.grant("https://a.example", ["authenticate"])
    assert b.is_allowed("https://a.example", "authenticate")
    b.revoke("https://a.example")  # revoking in one place revokes everywhere
    assert not a.is_allowed("https://a.example", "authenticate")
    data = json.loads((tmp_path / "sites.json").read_text())
    assert data == {"sites": {}, "version": 1}
    if os.name == "posix":
        assert (tmp_path / "sites.json").stat().st_mode & 0o777 == 0o600


def test_first_grant_date_kept(tmp_path: Path) -> None:
    times = iter([datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)])
    sites = TrustedSites(tmp_path, clock=lambda: next(times))
    sites.grant("https://a.example", ["sign"])
    sites.grant("https://a.example", ["sign"])
    assert sites.list()[0].granted_at == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a.example",
        "ftp://a.example",
        "https://a.example/path",
        "https://u@a.example",
        "https://a.example?x",
    ],
)
def test_bad_origins_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidInput):
        TrustedSites(tmp_path).grant(bad, ["sign"])
    assert not TrustedSites(tmp_path).is_allowed(bad, "sign")


def test_unknown_operation_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        TrustedSites(tmp_path).grant("https://a.example", ["format-disk"])
    with pytest.raises(InvalidInput):
        TrustedSites(tmp_path).grant("https://a.example", [])


def test_site_key_is_the_protocol_origin() -> None:
    assert site_key("https://A.Example:8443") == "https://a.example:8443"
    assert site_key("http://localhost:80") == "http://localhost"
    with pytest.raises(InvalidInput):
        site_key("https://a.example/")  # browsers never send a path, not even "/"


def test_damaged_file_grants_nothing(tmp_path: Path) -> None:
    (tmp_path / "sites.json").write_text('{"sites": {"https://a.example": {"sign": "not a date", "x": 1}')
    sites = TrustedSites(tmp_path)
    assert sites.list() == []
    sites.grant("https://b.example", ["sign"])  # rewrites a clean file
    assert json.loads((tmp_path / "sites.json").read_text())["sites"].keys() == {"https://b.example"}


def test_listener_called(tmp_path: Path) -> None:
    sites = TrustedSites(tmp_path)
    calls: list[int] = []
    sites.add_listener(lambda: calls.append(1))
    sites.grant("https://a.example", ["sign"])
    sites.revoke("https://nothing.example")
    sites.revoke("https://a.example")
    assert len(calls) == 2


def test_concurrent_threads_lose_no_grant(tmp_path: Path) -> None:
    sites = TrustedSites(tmp_path)

    def work(i: int) -> None:
        for j in range(10):
            sites.grant(f"https://s{i}-{j}.example", ["sign"])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(TrustedSites(tmp_path).list()) == 80


def test_concurrent_processes_lose_no_grant(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom pathlib import Path\nfrom sceau.store.sites import TrustedSites\n"
        "s = TrustedSites(Path(sys.argv[1]))\n"
        "for j in range(15):\n    s.grant(f'https://p{sys.argv[2]}-{j}.example', ['authenticate'])\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(i)]) for i in range(4)]
    assert all(p.wait(60) == 0 for p in procs)
    grants = TrustedSites(tmp_path).list()
    assert len(grants) == 60
    assert not list(tmp_path.glob(".sites-*.tmp"))  # no temp file left behind
