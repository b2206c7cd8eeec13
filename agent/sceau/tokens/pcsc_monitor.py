"""Smart-card reader and card events from PC/SC, without polling.

One thread blocks in `SCardGetStatusChange` with an INFINITE timeout on every reader plus the
`\\\\?PnP?\\Notification` pseudo-reader (readers plugged or unplugged); `stop()` wakes it with
`SCardCancel`. The PC/SC API object is passed in (`smartcard.scard` by default) so tests can give
a fake with the same functions. pyscard is optional: `pcsc_unavailable()` says why when missing.

Each event carries the card's ATR and the PKCS#11 modules that fit it (config + built-in table).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sceau.i18n import _

log = logging.getLogger(__name__)

PNP_READER = "\\\\?PnP?\\Notification"
# pcsc-lite/WinSCard values (stable ABI), used when the API object lacks a constant.
_SCARD_STATE_UNAWARE = 0x0
_SCARD_STATE_CHANGED = 0x2
_SCARD_STATE_UNKNOWN = 0x4
_SCARD_STATE_EMPTY = 0x10
_SCARD_STATE_PRESENT = 0x20
_SCARD_E_CANCELLED = 0x80100002
_SCARD_E_TIMEOUT = 0x8010000A
_SCARD_E_NO_READERS = 0x8010002E
_SCARD_E_NO_SERVICE = 0x8010001D
_SCARD_E_SERVICE_STOPPED = 0x8010001E
_SCARD_E_UNKNOWN_READER = 0x80100009
_SCARD_E_READER_UNAVAILABLE = 0x80100017
_INFINITE = 0xFFFFFFFF
_RETRY_S = 5.0  # pcscd gone: wait (on the stop event, not a spin) before reconnecting
_MAX_RETRY_S = 600.0
_NO_SERVICE_RETRY_S = 30.0  # no PC/SC service at all: first retry after this, then doubling


class CardEventKind(StrEnum):
    READER_ADDED = "reader-added"
    READER_REMOVED = "reader-removed"
    CARD_INSERTED = "card-inserted"
    CARD_REMOVED = "card-removed"


@dataclass(frozen=True)
class CardEvent:
    kind: CardEventKind
    reader: str
    atr: bytes = b""
    modules: tuple[str, ...] = ()  # PKCS#11 modules known to drive this card (may be empty)
    initial: bool = False  # found at start-up rather than a change

    def notification(self) -> dict[str, str] | None:
        """The page notification for this event (no reader name nor ATR: nothing to fingerprint)."""
        if self.kind is CardEventKind.CARD_INSERTED:
            return {"type": "token-inserted"}
        if self.kind in (CardEventKind.CARD_REMOVED, CardEventKind.READER_REMOVED):
            return {"type": "token-removed"}
        return None


@dataclass(frozen=True)
class AtrRule:
    """ATR pattern with a mask (hex, colons or spaces allowed) → PKCS#11 module paths or vendor."""

    atr: bytes
    mask: bytes
    name: str
    modules: tuple[str, ...] = ()  # explicit paths (from the config)
    vendor: str = ""  # else: a vendor of `sceau.tokens.discovery.KNOWN_MODULES`

    def matches(self, atr: bytes) -> bool:
        if len(atr) != len(self.atr):
            return False
        return all((a & m) == (p & m) for a, m, p in zip(atr, self.mask, self.atr, strict=True))

    @classmethod
    def parse(cls, spec: str) -> AtrRule:
        """`ATR[/MASK]=MODULE[,MODULE...]`, as written in the config key `atr_modules`."""
        pattern, sep, modules = spec.partition("=")
        if not sep or not modules.strip():
            raise ValueError(spec)
        atr_hex, _slash, mask_hex = pattern.partition("/")
        atr = _hex(atr_hex)
        mask = _hex(mask_hex) if mask_hex else b"\xff" * len(atr)
        if not atr or len(mask) != len(atr):
            raise ValueError(spec)
        return cls(atr, mask, atr.hex(":"), tuple(m.strip() for m in modules.split(",") if m.strip()))


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", "").replace(" ", ""))


# ATRs of cards sold with French RGS certificates (public ATR lists: OpenSC drivers, pcsc-tools).
BUILTIN_RULES: tuple[AtrRule, ...] = (
    AtrRule(
        _hex("3b:7f:96:00:00:80:31:80:65:b0:84:00:00:00:00:0f:fe:82:90:00"),
        _hex("ff:ff:00:ff:ff:ff:ff:ff:ff:ff:ff:00:00:00:00:00:00:ff:ff:ff"),
        "Thales IDPrime (MD 830/840/3810/930/940)",
        vendor="Thales (Gemalto)",
    ),
    AtrRule(
        _hex("3b:d5:18:00:81:31:3a:7d:80:73:c8:21:10:30"),
        _hex("ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:00:00"),
        "SafeNet eToken (Java)",
        vendor="Thales (SafeNet)",
    ),
    AtrRule(
        _hex("3b:f8:13:00:00:81:31:fe:15:59:75:62:69:6b:65:79:34:d4"),
        _hex("ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff"),
        "YubiKey (PIV)",
        vendor="OpenSC",
    ),
)


def modules_for_atr(atr: bytes, rules: Sequence[AtrRule] = BUILTIN_RULES) -> tuple[str, ...]:
    """PKCS#11 modules for a card: configured paths first, then installed vendor modules."""
    from sceau.tokens.discovery import KNOWN_MODULES

    os_attr = "macos" if sys.platform == "darwin" else "windows" if sys.platform == "win32" else "linux"
    out: list[str] = []
    for rule in rules:
        if not rule.matches(atr):
            continue
        out.extend(rule.modules)
        for known in KNOWN_MODULES:
            if rule.vendor and known.vendor == rule.vendor:
                out.extend(getattr(known, os_attr))
    return tuple(dict.fromkeys(out))


def pcsc_unavailable() -> str:
    """Empty when pyscard is importable, else why (card events are then off; tokens still work)."""
    try:
        import smartcard.scard  # noqa: F401
    except ImportError:
        return _("card insert/remove events need the optional package pyscard (pip install 'sceau[pcsc]')")
    except OSError as exc:  # libpcsclite missing
        return _("PC/SC library not found: {err}").format(err=exc)
    return ""


class PcscMonitor:
    """Reports reader/card changes to `on_event` from its own thread."""

    def __init__(
        self,
        on_event: Callable[[CardEvent], None],
        *,
        scard: Any = None,
        rules: Sequence[AtrRule] = BUILTIN_RULES,
    ) -> None:
        self._on_event = on_event
        self._api = scard
        self._rules = tuple(rules)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._context: Any = None
        self._lock = threading.Lock()
        self.calls = 0  # SCardGetStatusChange calls made (tests: proves there is no polling)
        self.native_id: int | None = None  # OS thread id (tests read its /proc counters)

    def _const(self, name: str, default: int) -> int:
        return int(getattr(self._api, name, default))

    def start(self) -> None:
        if self._api is None:
            import smartcard.scard as scard_module

            self._api = scard_module
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sceau-pcsc", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            if self._context is not None:
                self._api.SCardCancel(self._context)  # wakes the blocking wait at once
        if self._thread is not None:
            self._thread.join(timeout)

    # -- monitor thread ------------------------------------------------------------------------

    def _run(self) -> None:
        self.native_id = threading.get_native_id()
        delay = _NO_SERVICE_RETRY_S / 2
        while not self._stop.is_set():
            try:
                watched = self._session()
            except Exception:  # never let a PC/SC surprise kill the thread silently
                log.exception("PC/SC monitor failed; retrying")
                watched = False
            # No PC/SC service: retry with a growing delay (30 s … 10 min) so a machine without
            # pcscd does not wake up every few seconds; after a working session, start over.
            delay = _NO_SERVICE_RETRY_S / 2 if watched else min(delay * 2, _MAX_RETRY_S)
            if not self._stop.is_set():
                self._stop.wait(_RETRY_S if watched else delay)

    def _emit(self, kind: CardEventKind, reader: str, atr: bytes = b"", initial: bool = False) -> None:
        modules = modules_for_atr(atr, self._rules) if atr else ()
        try:
            self._on_event(CardEvent(kind, reader, atr, modules, initial))
        except Exception:
            log.exception("card event handler failed")

    def _session(self) -> bool:
        """One PC/SC context: wait for changes until cancelled or the service goes away.

        False when no context could be established (no PC/SC service)."""
        api = self._api
        hr, context = api.SCardEstablishContext(self._const("SCARD_SCOPE_USER", 0))
        if hr != 0:
            log.info("PC/SC unavailable (0x%08x)", hr & 0xFFFFFFFF)
            return False
        with self._lock:
            self._context = context
        try:
            self._watch(context)
            return True
        finally:
            with self._lock:
                self._context = None
            api.SCardReleaseContext(context)

    def _list_readers(self, context: Any) -> list[str]:
        hr, readers = self._api.SCardListReaders(context, [])
        return list(readers) if hr == 0 else []

    def _watch(self, context: Any) -> None:
        api = self._api
        changed = self._const("SCARD_STATE_CHANGED", _SCARD_STATE_CHANGED)
        present = self._const("SCARD_STATE_PRESENT", _SCARD_STATE_PRESENT)
        unknown = self._const("SCARD_STATE_UNKNOWN", _SCARD_STATE_UNKNOWN)
        infinite = self._const("INFINITE", _INFINITE)
        stop_codes = {
            self._const("SCARD_E_NO_SERVICE", _SCARD_E_NO_SERVICE),
            self._const("SCARD_E_SERVICE_STOPPED", _SCARD_E_SERVICE_STOPPED),
        }
        cancelled = self._const("SCARD_E_CANCELLED", _SCARD_E_CANCELLED)
        states: dict[str, int] = {r: _SCARD_STATE_UNAWARE for r in self._list_readers(context)}
        cards: dict[str, bytes] = {}  # reader → ATR of the card in it
        pnp_state = _SCARD_STATE_UNAWARE
        first = True
        quiet_returns = 0
        while not self._stop.is_set():
            request = [(r, s) for r, s in states.items()] + [(PNP_READER, pnp_state)]
            self.calls += 1
            hr, results = api.SCardGetStatusChange(context, 0 if first else infinite, request)
            hr &= 0xFFFFFFFF
            if hr == cancelled or self._stop.is_set():
                return
            if hr in stop_codes:
                for reader in list(cards):
                    self._emit(CardEventKind.CARD_REMOVED, reader)
                return
            if hr not in (0, self._const("SCARD_E_TIMEOUT", _SCARD_E_TIMEOUT)):
                log.info("SCardGetStatusChange: 0x%08x", hr)
                # Reader vanished between calls (UNKNOWN_READER...): re-list and go on.
                states = self._readers_changed(context, states, cards)
                self._pause_if_spinning(quiet_returns := quiet_returns + 1)
                continue
            any_change = first
            for reader, event, atr in results:
                if reader == PNP_READER:
                    if event & changed:
                        any_change = True
                        pnp_state = event & ~changed
                        states = self._readers_changed(context, states, cards)
                    continue
                if reader not in states or not event & changed:
                    continue
                any_change = True
                if event & unknown:  # unplugged: re-list readers (emits the removals)
                    states = self._readers_changed(context, states, cards)
                    continue
                states[reader] = event & ~changed
                now_present = bool(event & present)
                if now_present and reader not in cards:
                    cards[reader] = bytes(atr)
                    self._emit(CardEventKind.CARD_INSERTED, reader, bytes(atr), initial=first)
                elif not now_present and reader in cards:
                    old = cards.pop(reader)
                    self._emit(CardEventKind.CARD_REMOVED, reader, old)
            first = False
            quiet_returns = 0 if any_change else quiet_returns + 1
            self._pause_if_spinning(quiet_returns)

    def _readers_changed(self, context: Any, states: dict[str, int], cards: dict[str, bytes]) -> dict[str, int]:
        current = self._list_readers(context)
        for reader in states:
            if reader not in current:
                if reader in cards:
                    self._emit(CardEventKind.CARD_REMOVED, reader, cards.pop(reader))
                self._emit(CardEventKind.READER_REMOVED, reader)
        for reader in current:
            if reader not in states:
                self._emit(CardEventKind.READER_ADDED, reader)
        return {r: states.get(r, _SCARD_STATE_UNAWARE) for r in current}

    def _pause_if_spinning(self, quiet_returns: int) -> None:
        """Guard against PC/SC stacks that return at once without a change (no PnP support):
        back off instead of burning a core. Normal stacks never get here twice in a row."""
        if quiet_returns >= 3:
            log.warning("PC/SC returns without changes; slowing down")
            self._stop.wait(min(_RETRY_S, 0.25 * quiet_returns))
        elif quiet_returns:
            time.sleep(0)  # let other threads run


def agent_handler(
    invalidate: Callable[[], None],
    broadcast: Callable[[dict[str, Any]], Any],
    loop: Any,
    card_event: Callable[[CardEvent], None] | None = None,
) -> Callable[[CardEvent], None]:
    """The `on_event` the agent uses: drop cached tokens, then tell subscribed pages.

    `invalidate` is `TokenManager.invalidate`, `broadcast` the agent's coroutine function and
    `loop` its asyncio loop (events arrive on the monitor thread). With `card_event`
    (`TokenManager.card_event`), that is called instead of `invalidate`: it also loads the modules
    the inserted card's ATR maps to and lists the tokens again at once.
    """
    import asyncio

    def handle(event: CardEvent) -> None:
        if card_event is not None:
            card_event(event)
        elif event.kind is not CardEventKind.READER_ADDED:
            invalidate()
        note = event.notification()
        if note is not None and not event.initial:
            asyncio.run_coroutine_threadsafe(broadcast(note), loop)

    return handle


def rules_from_config(specs: Sequence[str]) -> tuple[AtrRule, ...]:
    """The configured `atr_modules` rules, then the built-in ones; a bad entry is a clear error."""
    from sceau.errors import InvalidInput

    rules = []
    for spec in specs:
        try:
            rules.append(AtrRule.parse(spec))
        except ValueError:
            raise InvalidInput(
                _("Configuration: atr_modules entry {entry!r} must read ATR[/MASK]=MODULE[,MODULE].").format(
                    entry=spec[:80]
                )
            ) from None
    return (*rules, *BUILTIN_RULES)


def start_card_events(
    config: Any, agent: Any, loop: Any, also: Callable[[CardEvent], None] | None = None
) -> PcscMonitor | None:
    """Start the monitor for a running agent (`config.card_events`, pyscard present), else None.

    `agent`: `sceau.app.Agent` (tokens.invalidate, broadcast); `also`: an extra observer (tray).
    """
    if not config.card_events:
        return None
    reason = pcsc_unavailable()
    if reason:
        log.info("card events off: %s", reason)
        return None
    handler = agent_handler(agent.tokens.invalidate, agent.broadcast, loop, getattr(agent.tokens, "card_event", None))

    def on_event(event: CardEvent) -> None:
        if also is not None:
            also(event)
        handler(event)

    monitor = PcscMonitor(on_event, rules=rules_from_config(config.atr_modules))
    monitor.start()
    return monitor
