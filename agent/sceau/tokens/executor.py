"""Blocking token calls run here, never on the event loop; one token is used by one call at a time.

Each PKCS#11 module has its own thread (a "lane"): a module that hangs in a call blocks only its
lane, the call fails with TIMEOUT after `MODULE_TIMEOUT_S` of module time (time spent waiting for
the user — PIN dialog, PIN typed on a reader — does not count), the module is reported as not
answering and skipped until the stuck call returns, and every other module keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from sceau.errors import Timeout
from sceau.i18n import _

T = TypeVar("T")

MODULE_TIMEOUT_S = 30.0  # a module call that takes longer is stuck (cards answer in well under 5 s)


class _Call:
    """Module time of one call: the clock stops while the user is asked something."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since = time.monotonic()
        self._spent = 0.0
        self.paused = False

    def pause(self) -> None:
        with self._lock:
            if not self.paused:
                self._spent += time.monotonic() - self._since
                self.paused = True

    def resume(self) -> None:
        with self._lock:
            if self.paused:
                self._since = time.monotonic()
                self.paused = False

    def remaining(self, limit: float) -> float:
        with self._lock:
            running = 0.0 if self.paused else time.monotonic() - self._since
            return limit - self._spent - running


_current = threading.local()
PAUSED_CHECK_S = 0.25  # while the user is asked, how often the module-time watch looks again


@contextlib.contextmanager
def user_wait() -> Iterator[None]:
    """Around a PIN prompt or a PIN-pad entry: that time is the user's, not the module's."""
    call: _Call | None = getattr(_current, "call", None)
    if call is None:
        yield
        return
    call.pause()
    try:
        yield
    finally:
        call.resume()


Settle = Callable[[Any, BaseException | None], None]  # (result, error), called on the lane


class _Lane:
    """One daemon thread running jobs in order. Not a ThreadPoolExecutor: its threads are joined at
    interpreter exit, and a module stuck forever in a call would then keep the process alive."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            job()

    def post(self, job: Callable[[], None]) -> None:
        self._queue.put(job)

    def shutdown(self) -> None:
        self._queue.put(None)


class ModuleLanes:
    """One worker thread per PKCS#11 module, shared by the process (modules are process-wide)."""

    def __init__(self) -> None:
        self._pools: dict[str, _Lane] = {}
        self._threads: dict[str, int] = {}
        self._busy: dict[str, int] = {}
        self._hung: dict[str, float] = {}  # module → when its stuck call started to be reported
        self._guard = threading.Lock()
        self.timeout = MODULE_TIMEOUT_S
        # Called (module path) when a module is first found stuck; True: the hook ended the call (a
        # hosted module's process is stopped), so the module serves again without a restart.
        self.on_stuck: list[Callable[[str], bool]] = []

    def _pool(self, module: str) -> _Lane:
        with self._guard:
            pool = self._pools.get(module)
            if pool is None:
                pool = self._pools[module] = _Lane("sceau-module")
            return pool

    def hung(self, module: str) -> bool:
        return module in self._hung

    def idle(self, module: str) -> bool:
        return not self._busy.get(module)

    def _on_lane(self, module: str) -> bool:
        return self._threads.get(module) == threading.get_ident()

    def _start(self, module: str, fn: Callable[[], Any], call: _Call, settle: Settle) -> None:
        """Queue `fn` on the module's lane; `settle(result, error)` runs there once it returned."""

        def job() -> None:
            self._threads[module] = threading.get_ident()
            _current.call = call
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn()
            except BaseException as exc:  # handed to the waiter, as an executor does
                error = exc
            finally:
                _current.call = None
                with self._guard:
                    self._busy[module] -= 1
                    self._hung.pop(module, None)  # the stuck call came back: the module answers again
            settle(result, error)

        with self._guard:
            self._busy[module] = self._busy.get(module, 0) + 1
        self._pool(module).post(job)

    def _stuck(self, module: str) -> Timeout:
        with self._guard:
            first = module not in self._hung
            self._hung.setdefault(module, time.monotonic())
        if first and any([hook(module) for hook in self.on_stuck]):
            return Timeout(
                _(
                    "The token middleware {module} does not answer: Sceau stopped it and starts it again "
                    "at the next request. Try again; if it persists, remove and reinsert the card."
                ).format(module=module)
            )
        return Timeout(
            _(
                "The token middleware {module} does not answer. Remove and reinsert the card; "
                "if it persists, restart Sceau."
            ).format(module=module)
        )

    def call(self, module: str, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run `fn` on the module's lane and wait (from a worker thread, never the event loop)."""
        if self._on_lane(module):
            return fn()  # already on this module's thread (nested call)
        if self.hung(module):
            raise self._stuck(module)
        limit = self.timeout if timeout is None else timeout
        call = _Call()
        future: Future[T] = Future()
        self._start(module, fn, call, lambda result, error: _settle(future, result, error))
        while True:
            try:
                return future.result(timeout=max(call.remaining(limit), 0.05) if not call.paused else 0.5)
            except FutureTimeout:
                if not call.paused and call.remaining(limit) <= 0:
                    raise self._stuck(module) from None

    async def run(self, module: str, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run `fn` on the module's lane and await it, with the module-time limit.

        One future, completed from the lane, and one timer: a signature costs two thread wake-ups
        and no extra event-loop turn (asyncio.wait/wrap_future took three per call)."""
        if self.hung(module):
            raise self._stuck(module)
        limit = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        call = _Call()
        done: asyncio.Future[T] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed (agent exit): nobody waits any more
                loop.call_soon_threadsafe(_settle, done, result, error)

        self._start(module, fn, call, settle)
        timer: asyncio.TimerHandle  # the module-time watch, re-armed while the call runs

        def watch() -> None:
            nonlocal timer
            if done.done():
                return
            remaining = PAUSED_CHECK_S if call.paused else call.remaining(limit)
            if remaining > 0:
                timer = loop.call_later(remaining, watch)
            else:
                done.set_exception(self._stuck(module))  # its late outcome is nobody's any more

        timer = loop.call_later(limit, watch)
        try:
            return await done
        finally:
            timer.cancel()

    def shutdown(self) -> None:
        with self._guard:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.shutdown()


def _settle(future: asyncio.Future[Any] | Future[Any], result: Any, error: BaseException | None) -> None:
    """Hand a lane call's outcome to its waiter (an asyncio future on the loop, or a blocking caller's)."""
    if future.done():  # timed out (module stuck) or the waiter was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


LANES = ModuleLanes()


class TokenExecutor:
    """A small thread pool plus one lock per token id (PKCS#11 sessions are not thread-safe);
    calls on a PKCS#11 token run on its module's lane (`LANES`)."""

    def __init__(self, workers: int = 4, lanes: ModuleLanes = LANES) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sceau-token")
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.lanes = lanes

    def lock_for(self, token_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(token_id, threading.Lock())

    async def run(self, token_id: str | None, fn: Callable[[], T], *, module: str | None = None) -> T:
        """Run `fn` in the pool, holding the token's lock when `token_id` is given; on `module`'s
        lane, with its time limit, when the token is a PKCS#11 token."""
        loop = asyncio.get_running_loop()
        if token_id is None:
            return await loop.run_in_executor(self._pool, fn)
        lock = self.lock_for(token_id)

        def locked() -> T:
            with lock:
                return fn()

        if module is not None:
            return await self.lanes.run(module, locked)
        return await loop.run_in_executor(self._pool, locked)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
