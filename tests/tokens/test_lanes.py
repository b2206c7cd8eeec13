"""Module lanes without a module: results, errors, the module-time limit, user time, and a lane that
outlives the waiters (a cancelled request, an event loop that closed)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from sceau.errors import Timeout
from sceau.tokens.executor import ModuleLanes, user_wait


@pytest.fixture
def lanes() -> ModuleLanes:
    return ModuleLanes()


async def test_the_call_runs_on_the_module_thread_and_its_result_or_error_comes_back(lanes: ModuleLanes) -> None:
    assert await lanes.run("m", threading.get_ident) != threading.get_ident()

    def fail() -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await lanes.run("m", fail)
    assert lanes.idle("m") and not lanes.hung("m")


async def test_a_call_over_the_limit_times_out_and_the_module_is_put_aside_until_it_returns(
    lanes: ModuleLanes,
) -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(Timeout):
        await lanes.run("m", lambda: release.wait(10), timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    assert lanes.hung("m")
    with pytest.raises(Timeout):  # refused at once while the stuck call is still in the module
        await lanes.run("m", lambda: "next")
    release.set()
    for _ in range(100):
        if not lanes.hung("m"):
            break
        await asyncio.sleep(0.01)
    assert await lanes.run("m", lambda: "next") == "next"


async def test_time_with_the_user_does_not_count(lanes: ModuleLanes) -> None:
    def slow_user() -> str:
        with user_wait():
            time.sleep(0.6)  # twice the limit, but the user's time
        return "signed"

    assert await lanes.run("m", slow_user, timeout=0.3) == "signed"


async def test_a_cancelled_waiter_leaves_the_lane_serving(lanes: ModuleLanes) -> None:
    waiter = asyncio.ensure_future(lanes.run("m", lambda: time.sleep(0.2)))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await lanes.run("m", lambda: 42) == 42


def test_a_result_for_a_closed_loop_does_not_kill_the_lane(lanes: ModuleLanes) -> None:
    release = threading.Event()
    waiting: list[asyncio.Future[bool]] = []

    async def start() -> None:
        waiting.append(asyncio.ensure_future(lanes.run("m", lambda: release.wait(5))))
        await asyncio.sleep(0.05)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(start())
    loop.close()  # the agent exits while the module still works
    release.set()
    assert asyncio.run(lanes.run("m", lambda: "still here", timeout=5)) == "still here"
