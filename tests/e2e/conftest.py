"""Real browser, real extension, real native host, real agent on the SoftHSM2 test token.

Chromium (Debian `/usr/bin/chromium`) is driven by Playwright as DESIGN.md §7 describes: persistent
context, `--load-extension`, headless, native-messaging manifest in PROFILE/NativeMessagingHosts.
The agent runs as `sceau agent --headless --yes --pin-env …` in its own process; the native host
restarts it with the same arguments (SCEAU_AGENT_ARGS) if a test kills it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sceau.devkit.bridge import Bridge
from sceau.devkit.testsite import RelyingParty
from sceau_native_host.manifests import DEV_EXTENSION_ID
from tests.e2e.helpers import chromium, make_bridge


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def e2e_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="sceau-e2e-"))
    yield root
    if not os.environ.get("SCEAU_KEEP_E2E"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def bridge(e2e_root: Path, softhsm_module: str, softhsm_conf: Path) -> Iterator[Bridge]:
    b = make_bridge(e2e_root / "bridge", softhsm_module, softhsm_conf, max_message_bytes=2 * 1024 * 1024)
    proc = b.start_agent()
    yield b
    pid = b.agent_pid()
    for p in {proc.pid, pid}:
        if p:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


@pytest.fixture(scope="session")
def rp(e2e_root: Path) -> Iterator[RelyingParty]:
    server = RelyingParty(e2e_root, ports=4, plain_ports=1)
    server.start()
    yield server
    server.stop()


# Module scope: Playwright's sync API keeps an event loop running while it is started, which
# would break the asyncio tests of other folders collected after this one.
@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright_instance: Any, bridge: Bridge, e2e_root: Path) -> Iterator[Any]:
    context = chromium(playwright_instance, e2e_root / "profile", bridge.env)
    worker = context.service_workers[0] if context.service_workers else context.wait_for_event("serviceworker")
    assert f"chrome-extension://{DEV_EXTENSION_ID}/" in worker.url, worker.url
    yield context
    context.close()
