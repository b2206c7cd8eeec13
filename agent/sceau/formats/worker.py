"""Parsing of untrusted files in bounded worker processes, off the event loop (DESIGN.md §4.9).

A hostile PDF, XML or CMS file can make a parser run for hours (a form-field tree that reuses the same
child at each level) or recurse until the interpreter gives up. Such work runs here: in a separate
process (a thread cannot be stopped) with a recursion limit, an address-space cap where the OS has
one, and a time budget after which the process is killed and the file refused as INVALID_INPUT.
The agent keeps serving every other client meanwhile.

Jobs are module-level functions (they are pickled by reference) that return picklable values and
raise `SceauError` for what the user should read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from sceau import errors, i18n
from sceau.errors import InvalidInput, SceauError
from sceau.i18n import _
from sceau.protocol.codes import ErrorCode

log = logging.getLogger(__name__)

T = TypeVar("T")
IDLE_WORKER_S = 60.0  # an idle worker is stopped after this long: the idle agent stays small
TOO_DEEP = "The file is too deeply nested to be analysed."  # msgid (RecursionError anywhere)


@dataclass(frozen=True)
class Budget:
    """What one job may use."""

    timeout_s: float = 60.0
    memory_bytes: int = 2 << 30  # address space of the worker (Unix), on top of what imports take
    recursion_limit: int = 1000  # Python's default: deep structures fail fast with RecursionError


DEFAULT_BUDGET = Budget()


def _limit_memory(limit: int) -> None:
    try:
        import resource
    except ImportError:  # Windows: no RLIMIT_AS; the time budget still holds
        return
    with contextlib.suppress(ValueError, OSError):
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _failure(exc: BaseException) -> tuple[str, str, str]:
    """A job's exception as (tag, code, message), safe to send to the parent."""
    if isinstance(exc, SceauError):
        code = exc.code if isinstance(exc.code, ErrorCode) else ErrorCode.INTERNAL
        return ("err", code.value, exc.message)
    if isinstance(exc, RecursionError):
        return ("err", ErrorCode.INVALID_INPUT.value, _(TOO_DEEP))
    if isinstance(exc, MemoryError):
        return ("err", ErrorCode.INVALID_INPUT.value, _("The file needs too much memory to be analysed."))
    log.error("worker job failed", exc_info=exc)
    return ("err", ErrorCode.INTERNAL.value, "Internal error in the Sceau agent; see its journal.")


# Imported before a worker says it is ready: the time budget then counts the job, not the imports.
WARM_MODULES = ("sceau.formats.verify", "sceau.formats.xmlverify", "sceau.formats.pades")
STARTUP_TIMEOUT_S = 120.0


def _worker_main(conn: Connection, budget: Budget) -> None:
    """The worker process: run jobs until the parent closes the pipe."""
    import importlib

    for name in WARM_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    sys.setrecursionlimit(budget.recursion_limit)
    # A big main-thread stack is not needed: the recursion limit stops Python recursion well before it.
    _limit_memory(budget.memory_bytes)
    conn.send(("ready",))
    while True:
        try:
            fn, args, language = conn.recv()
        except (EOFError, OSError):
            return
        i18n.set_language(language)  # the messages a job raises are in the agent's language
        try:
            reply: tuple[Any, ...] = ("ok", fn(*args))
        except BaseException as exc:
            reply = _failure(exc)
        try:
            conn.send(reply)
        except (RecursionError, MemoryError, TypeError, ValueError) as exc:  # unpicklable result
            conn.send(_failure(exc))
        except (EOFError, OSError):
            return


def error_for(code: ErrorCode, message: str) -> SceauError:
    """The exception class of `code` (so callers' `except InvalidInput` still work across the pipe)."""
    for cls in (
        errors.BadRequest,
        errors.TooLarge,
        errors.Unsupported,
        errors.InvalidInput,
        errors.NotARecipient,
        errors.Timeout,
        errors.Busy,
    ):
        if cls.code is code:
            return cls(message)
    return SceauError(message, code=code)


class _Worker:
    def __init__(self, budget: Budget) -> None:
        ctx = multiprocessing.get_context("spawn")  # the agent has threads: never fork it
        self.conn, child = ctx.Pipe()
        self.process: BaseProcess = ctx.Process(
            target=_worker_main, args=(child, budget), daemon=True, name="sceau-parse"
        )
        self.process.start()
        child.close()
        self.idle_since = time.monotonic()
        # Blocking (the pool calls this in a thread): wait until the worker has loaded the parsers.
        if not self.conn.poll(STARTUP_TIMEOUT_S) or self.conn.recv() != ("ready",):
            self.kill()
            raise OSError("the parsing worker did not start")

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, ...]:
        self.conn.send((fn, args, i18n.current_language()))
        reply: tuple[Any, ...] = self.conn.recv()
        return reply

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.process.join(2)

    @property
    def alive(self) -> bool:
        return self.process.is_alive()


class WorkerPool:
    """At most `size` worker processes; a job that overruns its budget kills its worker."""

    def __init__(self, size: int = 2, budget: Budget = DEFAULT_BUDGET, *, idle_s: float = IDLE_WORKER_S) -> None:
        self.size = max(1, size)
        self.budget = budget
        self.idle_s = idle_s
        self._idle: list[_Worker] = []
        self._slots: asyncio.Semaphore | None = None
        self._guard = threading.Lock()
        self._closed = False

    def _take(self) -> _Worker:
        with self._guard:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                worker.kill()
        return _Worker(self.budget)

    def _give_back(self, worker: _Worker) -> None:
        with self._guard:
            if self._closed or len(self._idle) >= self.size:
                worker.kill()
                return
            worker.idle_since = time.monotonic()
            self._idle.append(worker)
        with contextlib.suppress(RuntimeError):  # no running loop: the next run() reaps
            asyncio.get_running_loop().call_later(self.idle_s + 0.1, self.reap_idle)

    def reap_idle(self) -> None:
        """Stop the workers idle for more than `idle_s`."""
        now = time.monotonic()
        with self._guard:
            stale = [w for w in self._idle if now - w.idle_since >= self.idle_s]
            self._idle = [w for w in self._idle if w not in stale]
        for worker in stale:
            worker.kill()

    @property
    def idle_workers(self) -> int:
        with self._guard:
            return len(self._idle)

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        """`fn(*args)` in a worker; `InvalidInput` when it overruns the budget or the worker dies."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        timeout = self.budget.timeout_s if timeout_s is None else timeout_s
        async with self._slots:
            try:
                worker = await asyncio.to_thread(self._take)  # spawning takes a moment: not on the loop
            except (OSError, EOFError):
                raise InvalidInput(_("The file could not be analysed: the analysis stopped abnormally.")) from None
            try:
                reply = await asyncio.wait_for(asyncio.to_thread(worker.call, fn, args), timeout)
            except TimeoutError:
                worker.kill()
                raise InvalidInput(
                    _("The file is too complex to be analysed (more than {n} s).").format(n=round(timeout))
                ) from None
            except (EOFError, OSError, BrokenPipeError):
                worker.kill()
                raise InvalidInput(_("The file could not be analysed: the analysis stopped abnormally.")) from None
            except BaseException:  # cancelled (operation timeout, client gone): abandon the job
                worker.kill()
                raise
        self._give_back(worker)
        if reply[0] == "ok":
            result: T = reply[1]
            return result
        _tag, code, message = reply
        raise error_for(ErrorCode(code), message)

    def close(self) -> None:
        with self._guard:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


_shared: list[WorkerPool] = []


def shared_pool() -> WorkerPool:
    """The process-wide pool for callers that were not given one (tools, tests)."""
    if not _shared:
        _shared.append(WorkerPool())
    return _shared[0]


__all__ = ["DEFAULT_BUDGET", "TOO_DEEP", "Budget", "WorkerPool", "error_for", "shared_pool"]
