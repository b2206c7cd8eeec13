"""PC/SC monitor: a fake below pyscard's API, then real pcscd + vpcd + vicc (virtual card)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sceau.tokens.pcsc_monitor import (
    PNP_READER,
    AtrRule,
    CardEvent,
    CardEventKind,
    PcscMonitor,
    modules_for_atr,
)
from tests.tokens import virtual_card

IDPRIME_ATR = bytes.fromhex("3b7f96000080318065b0844160fb120ffe829000")


class FakeScard:
    """The subset of `smartcard.scard` the monitor uses, over a simulated set of readers.

    `SCardGetStatusChange` blocks (like the real one) until the simulated hardware changes,
    the timeout expires or `SCardCancel` is called.
    """

    SCARD_STATE_CHANGED = 0x2
    SCARD_STATE_EMPTY = 0x10
    SCARD_STATE_PRESENT = 0x20
    SCARD_E_CANCELLED = 0x80100002
    SCARD_E_TIMEOUT = 0x8010000A
    INFINITE = 0xFFFFFFFF

    def __init__(self) -> None:
        self.readers: dict[str, bytes | None] = {}  # reader → ATR of the card in it, or None
        self.counter = 0  # bumps on every change (high word of the event state, as pcsc-lite)
        self.pnp_counter = 0
        self.cond = threading.Condition()
        self.cancelled = False
        self.waits = 0

    # simulated hardware
    def plug(self, reader: str) -> None:
        with self.cond:
            self.readers[reader] = None
            self.pnp_counter += 1
            self.cond.notify_all()

    def unplug(self, reader: str) -> None:
        with self.cond:
            self.readers.pop(reader)
            self.pnp_counter += 1
            self.cond.notify_all()

    def insert(self, reader: str, atr: bytes) -> None:
        with self.cond:
            self.readers[reader] = atr
            self.counter += 1
            self.cond.notify_all()

    def remove(self, reader: str) -> None:
        with self.cond:
            self.readers[reader] = None
            self.counter += 1
            self.cond.notify_all()

    # PC/SC API
    def SCardEstablishContext(self, scope: int) -> tuple[int, int]:
        return 0, 1

    def SCardReleaseContext(self, ctx: int) -> int:
        return 0

    def SCardListReaders(self, ctx: int, groups: list[str]) -> tuple[int, list[str]]:
        with self.cond:
            return 0, list(self.readers)

    def SCardCancel(self, ctx: int) -> int:
        with self.cond:
            self.cancelled = True
            self.cond.notify_all()
        return 0

    def _state(self, reader: str) -> int:
        if reader == PNP_READER:
            return self.pnp_counter << 16
        if reader not in self.readers:
            return 0x4  # UNKNOWN
        base = self.SCARD_STATE_PRESENT if self.readers[reader] else self.SCARD_STATE_EMPTY
        return base | (self.counter << 16)

    def SCardGetStatusChange(
        self, ctx: int, timeout: int, states: list[tuple[str, int]]
    ) -> tuple[int, list[tuple[str, int, list[int]]]]:
        deadline = None if timeout == self.INFINITE else time.monotonic() + timeout / 1000
        with self.cond:
            self.waits += 1
            while True:
                if self.cancelled:
                    self.cancelled = False
                    return self.SCARD_E_CANCELLED, []
                out = []
                changed = False
                for reader, current in states:
                    now = self._state(reader)
                    flag = self.SCARD_STATE_CHANGED if now != current else 0
                    changed = changed or bool(flag)
                    atr = self.readers.get(reader) or b""
                    out.append((reader, now | flag, list(atr)))
                if changed:
                    return 0, out
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return self.SCARD_E_TIMEOUT, out
                self.cond.wait(remaining)


class Collector:
    def __init__(self) -> None:
        self.events: list[CardEvent] = []
        self.cond = threading.Condition()

    def __call__(self, event: CardEvent) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10) -> list[CardEvent]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.events) >= count, timeout), self.events
            return list(self.events)


def kinds(events: list[CardEvent]) -> list[tuple[str, str]]:
    return [(e.kind.value, e.reader) for e in events]


def test_fake_reader_and_card_events_without_polling() -> None:
    api = FakeScard()
    api.plug("Reader A")
    api.insert("Reader A", IDPRIME_ATR)
    got = Collector()
    rule = AtrRule.parse("3b7f96000080318065b0844160fb120ffe829000=/opt/vendor/libidprime.so")
    monitor = PcscMonitor(got, scard=api, rules=[rule])
    monitor.start()
    try:
        first = got.wait_for(1)[0]
        assert (first.kind, first.reader, first.atr, first.initial) == (
            CardEventKind.CARD_INSERTED,
            "Reader A",
            IDPRIME_ATR,
            True,
        )
        assert first.modules[0] == "/opt/vendor/libidprime.so"
        assert first.notification() == {"type": "token-inserted"}
        time.sleep(0.3)
        calls_idle = monitor.calls
        time.sleep(0.5)
        assert monitor.calls == calls_idle  # blocked in the wait, not looping
        api.remove("Reader A")
        assert kinds(got.wait_for(2)[1:]) == [("card-removed", "Reader A")]
        api.plug("Reader B")
        assert kinds(got.wait_for(3)[2:]) == [("reader-added", "Reader B")]
        api.insert("Reader B", b"\x3b\x00")
        assert kinds(got.wait_for(4)[3:]) == [("card-inserted", "Reader B")]
        api.unplug("Reader B")  # pulled out with its card
        events = got.wait_for(6)
        assert kinds(events[4:]) == [("card-removed", "Reader B"), ("reader-removed", "Reader B")]
        assert events[4].notification() == {"type": "token-removed"}
        assert not any(e.initial for e in events[1:])
        assert monitor.calls < 15  # one wait per change, give or take
    finally:
        monitor.stop()
    assert not monitor._thread or not monitor._thread.is_alive()


def test_stop_wakes_the_infinite_wait_at_once() -> None:
    api = FakeScard()
    monitor = PcscMonitor(Collector(), scard=api)
    monitor.start()
    time.sleep(0.2)
    started = time.monotonic()
    monitor.stop()
    assert time.monotonic() - started < 1
    assert monitor._thread is not None and not monitor._thread.is_alive()


def test_atr_rules() -> None:
    assert AtrRule.parse("3b:7f/ff:00=/a.so,/b.so").matches(bytes.fromhex("3b7f"))
    assert AtrRule.parse("3b:7f/ff:00=/a.so").matches(bytes.fromhex("3b00"))
    assert not AtrRule.parse("3b:7f=/a.so").matches(bytes.fromhex("3b00"))
    assert not AtrRule.parse("3b:7f=/a.so").matches(bytes.fromhex("3b7f00"))
    for bad in ("3b7f", "zz=/a.so", "3b7f/ff=/a.so", "=/a.so"):
        with pytest.raises(ValueError):
            AtrRule.parse(bad)
    # Built-in table: an IDPrime 940 ATR maps to the IDPrime middleware paths for this OS.
    mods = modules_for_atr(bytes.fromhex("3b7f96000080318065b08461 60fb120ffe829000".replace(" ", "")))
    assert any("IDPrimePKCS11" in m for m in mods)
    assert modules_for_atr(b"\x3b\x00") == ()


# -- real PC/SC stack ---------------------------------------------------------------------------



@pytest.fixture
def pcscd(tmp_path: Path) -> Iterator[int]:
    """A pcscd of our own with one vpcd reader on a private port; yields the port."""
    proc, port = virtual_card.start_pcscd(tmp_path)
    try:
        yield port
    finally:
        virtual_card.stop(proc)


def thread_counters(native_id: int) -> tuple[int, int]:
    """(voluntary context switches, utime+stime ticks) of one thread of this process."""
    base = Path(f"/proc/self/task/{native_id}")
    switches = next(
        int(line.split()[1])
        for line in (base / "status").read_text().splitlines()
        if line.startswith("voluntary_ctxt_switches")
    )
    fields = (base / "stat").read_text().rsplit(")", 1)[1].split()
    return switches, int(fields[11]) + int(fields[12])


@pytest.mark.slow
def test_virtual_card_insert_and_remove(pcscd: int) -> None:
    got = Collector()
    monitor = PcscMonitor(got)
    monitor.start()
    try:
        wait = time.monotonic() + 5
        while monitor.calls < 2 and time.monotonic() < wait:  # settled in its blocking wait
            time.sleep(0.05)
        vicc = virtual_card.start_vicc(pcscd)
        try:
            inserted = got.wait_for(1, timeout=20)[0]
            assert inserted.kind is CardEventKind.CARD_INSERTED and inserted.reader.startswith("Virtual PCD")
            assert inserted.atr and inserted.atr[0] in (0x3B, 0x3F)
            assert not inserted.initial
            # Idle with a card present: the monitor thread sleeps in SCardGetStatusChange.
            assert monitor.native_id is not None
            calls, (switches, ticks) = monitor.calls, thread_counters(monitor.native_id)
            time.sleep(3)
            switches2, ticks2 = thread_counters(monitor.native_id)
            assert monitor.calls == calls
            assert switches2 - switches <= 2, "the monitor woke up while nothing happened"
            assert ticks2 - ticks <= 1
        finally:
            vicc.terminate()
            vicc.wait(10)
        removed = got.wait_for(2, timeout=20)[1]
        assert removed.kind is CardEventKind.CARD_REMOVED and removed.reader == inserted.reader
        assert removed.notification() == {"type": "token-removed"}
    finally:
        monitor.stop()


def test_atr_modules_from_config(tmp_path: Path) -> None:
    from sceau.config import load
    from sceau.errors import InvalidInput
    from sceau.tokens.pcsc_monitor import rules_from_config

    conf = tmp_path / "config.toml"
    conf.write_text('card_events = false\natr_modules = ["3b:02:14:50/ff:ff:ff:00 = /opt/x/libx.so"]\n')
    cfg = load(conf)
    assert cfg.card_events is False
    rules = rules_from_config(cfg.atr_modules)
    assert modules_for_atr(bytes.fromhex("3b021499"), rules) == ("/opt/x/libx.so",)
    with pytest.raises(InvalidInput, match="atr_modules"):
        rules_from_config(["not an atr"])


def test_no_pcsc_service_backs_off_instead_of_spinning() -> None:
    class NoService(FakeScard):
        establish_calls = 0

        def SCardEstablishContext(self, scope: int) -> tuple[int, int]:
            NoService.establish_calls += 1
            return 0x8010001D, 0  # SCARD_E_NO_SERVICE

    monitor = PcscMonitor(Collector(), scard=NoService())
    monitor.start()
    time.sleep(1.0)
    monitor.stop()
    assert NoService.establish_calls == 1  # next try only after 10 s, then 20 s…


async def test_desktop_shell_wires_card_events_to_agent(tmp_path: Path) -> None:
    import asyncio

    from sceau.config import Config
    from sceau.ui.desktop import DesktopShell
    from sceau.ui.menu import TrayState

    class FakeTokens:
        invalidations = 0

        def invalidate(self) -> None:
            FakeTokens.invalidations += 1

        def entries(self) -> list[object]:
            return []

    class FakeAgent:
        def __init__(self) -> None:
            self.tokens = FakeTokens()
            self.sites = None
            self.notes: list[dict[str, str]] = []
            self.got = asyncio.Event()

        async def broadcast(self, note: dict[str, str]) -> None:
            self.notes.append(note)
            self.got.set()

    api = FakeScard()
    api.plug("Reader A")
    agent = FakeAgent()
    shell = DesktopShell(Config(data_dir=str(tmp_path)), ui=None, scard=api)
    shell.attach(agent, asyncio.get_running_loop())
    try:
        await asyncio.sleep(0.2)
        api.insert("Reader A", IDPRIME_ATR)
        await asyncio.wait_for(agent.got.wait(), 10)
        assert agent.notes == [{"type": "token-inserted"}]
        assert FakeTokens.invalidations == 1
        assert shell.controller.state is TrayState.CARD
        agent.got.clear()
        api.remove("Reader A")
        await asyncio.wait_for(agent.got.wait(), 10)
        assert agent.notes[-1] == {"type": "token-removed"}
        assert shell.controller.state is TrayState.READY
    finally:
        shell.request_stop()
