"""One client connection, sans-I/O: the channel it came on, its caps, and id recovery for refusals.

Both transports (IPC and WebSocket) create a `Session` per connection, call `admit` before they
start a request and `release` when its response is out, and hand the session to the agent with
every message. What a channel allows is stated here as data (`Channel`), so nothing downstream
branches on a transport's name.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sceau.errors import Busy, SceauError
from sceau.protocol import messages

MAX_IN_FLIGHT = 64  # per connection: a runaway client gets BUSY instead of unbounded tasks
# The extension's one native connection carries every site: its cap is higher, and each origin on it
# has its own, lower one, so one page's burst makes that page BUSY, not every other site.
MAX_IN_FLIGHT_SHARED = 256
MAX_IN_FLIGHT_PER_ORIGIN = 32
# Requests per second each origin may send on the shared connection (the WebSocket keeps the same rate
# per site across its connections): generous for a page signing in a loop, a wall for a runaway one.
ORIGIN_RATE_PER_SECOND = 1000.0
ORIGIN_RATE_BURST = 1000
MAX_RATED_ORIGINS = 256  # origins whose rate is remembered; idle ones are forgotten beyond that


@dataclass(frozen=True)
class Channel:
    """What a transport is, as far as policy goes."""

    name: str  # for logs only
    # The origin is the transport's own (the WebSocket handshake's validated Origin header), not the
    # message's `origin` field (which the extension's background sets from the browser's sender).
    origin_from_transport: bool
    # Only page commands: the extension-only `site-*` commands are refused.
    page_commands_only: bool
    # No extension in front to ask the first-use question: the agent asks it itself.
    asks_first_use: bool


IPC = Channel("ipc", origin_from_transport=False, page_commands_only=False, asks_first_use=False)
WEBSOCKET = Channel("websocket", origin_from_transport=True, page_commands_only=True, asks_first_use=True)


class TokenBucket:
    """Rate limiter: `rate` requests per second sustained, at most `burst` saved up."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class Session:
    """A client connection as the protocol core sees it."""

    def __init__(
        self,
        channel: Channel = IPC,
        *,
        origin: str | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        rate: TokenBucket | None = None,
        origin_rate: Callable[[], TokenBucket] | None = None,
    ) -> None:
        self.channel = channel
        self.origin = origin  # the transport's validated origin (WebSocket), else None
        self.max_in_flight = max_in_flight
        self.rate = rate
        self.in_flight = 0
        self.subscribed = False  # sent `subscribe`: token notifications are pushed to it
        self.max_in_flight_per_origin = min(max_in_flight, MAX_IN_FLIGHT_PER_ORIGIN)
        self._by_origin: dict[str, int] = {}  # requests in flight per origin (the extension multiplexes sites)
        self._origin_rate = origin_rate  # a fresh bucket for each origin seen (None: no per-origin rate)
        self._rates: dict[str, TokenBucket] = {}

    def admit(self) -> None:
        """Count one more request in flight; `Busy` when the connection is over its caps."""
        if self.rate is not None and not self.rate.take():
            raise Busy("Too many requests; slow down.", params={})
        if self.in_flight >= self.max_in_flight:
            raise Busy("Too many requests in flight on this connection.", params={})
        self.in_flight += 1

    def release(self) -> None:
        """A request admitted earlier has had its final response."""
        self.in_flight = max(0, self.in_flight - 1)

    def admit_origin(self, origin: str) -> None:
        """Count a request of `origin` (known once the message is parsed); `Busy` over its own cap."""
        count = self._by_origin.get(origin, 0)
        if count >= self.max_in_flight_per_origin:
            raise Busy("Too many requests in flight for this site.", params={})
        if self._origin_rate is not None:
            bucket = self._rates.get(origin)
            if bucket is None:
                if len(self._rates) >= MAX_RATED_ORIGINS:  # forget the idle ones, keep memory bounded
                    self._rates = {o: b for o, b in self._rates.items() if o in self._by_origin}
                bucket = self._rates[origin] = self._origin_rate()
            if not bucket.take():
                raise Busy("Too many requests from this site; slow down.", params={})
        self._by_origin[origin] = count + 1

    def release_origin(self, origin: str) -> None:
        count = self._by_origin.get(origin, 0) - 1
        if count > 0:
            self._by_origin[origin] = count
        else:
            self._by_origin.pop(origin, None)

    @staticmethod
    def refusal(body: bytes | str, exc: SceauError) -> dict[str, Any]:
        """The error response for a request refused before it ran, with its id when it has one."""
        return messages.error_from_exception(request_id(body), exc)


def request_id(body: bytes | str) -> str | None:
    """The id of a raw request, when it parses and has a usable one (so a refusal is correlated)."""
    with contextlib.suppress(ValueError, RecursionError, UnicodeDecodeError):
        return messages.request_id_of(json.loads(body))
    return None


# Sends one message to the client (a handler's partial results, notifications).
Emitter = Callable[[dict[str, Any]], Awaitable[None]]


class RequestHandler(Protocol):
    """What a transport needs from the agent (`sceau.app.Agent` satisfies it)."""

    async def handle(
        self, message: bytes | dict[str, Any], *, session: Session | None = ..., emit: Emitter | None = ...
    ) -> dict[str, Any]: ...

    def connection_closed(self, session: Session) -> None:
        """Release what the connection held (chunked transfers and their temp files)."""
