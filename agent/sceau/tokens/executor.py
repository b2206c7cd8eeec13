"""Blocking token calls run here, never on the event loop; one token is used by one call at a time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class TokenExecutor:
    """A small thread pool plus one lock per token id (PKCS#11 sessions are not thread-safe)."""

    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sceau-token")
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock_for(self, token_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(token_id, threading.Lock())

    async def run(self, token_id: str | None, fn: Callable[[], T]) -> T:
        """Run `fn` in the pool, holding the token's lock when `token_id` is given."""
        loop = asyncio.get_running_loop()
        if token_id is None:
            return await loop.run_in_executor(self._pool, fn)
        lock = self.lock_for(token_id)

        def locked() -> T:
            with lock:
                return fn()

        return await loop.run_in_executor(self._pool, locked)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
