"""Browser paths a real token cannot produce on demand, with a scripted agent behind the real host:
a 3 MB reply crossing in chunks, an agent crash mid-operation, another extension calling our host.
The browser, the extension, the native host and the IPC transport are the real ones; the scripted
agent takes no browser pipes (`--relay`), so these run through the host's relay — the path of
Windows and of `direct_browser_channel = false` — while the other browser tests use the handover."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sceau.devkit.bridge import EXTENSION, Bridge
from sceau.devkit.testsite import RelyingParty, call, open_page
from tests.e2e.helpers import chromium, make_bridge

STUB = Path(__file__).resolve().parents[1] / "native_host" / "stub_agent.py"

OTHER_MANIFEST = {
    "manifest_version": 3,
    "name": "Other extension",
    "version": "1.0",
    "permissions": ["nativeMessaging"],
    "background": {"service_worker": "bg.js"},
}


@pytest.fixture(scope="module")
def stub_bridge(e2e_root: Path, softhsm_module: str, softhsm_conf: Path) -> Iterator[Bridge]:
    b = make_bridge(e2e_root / "stub", softhsm_module, softhsm_conf, max_message_bytes=64 * 1024 * 1024)
    proc = subprocess.Popen(
        [sys.executable, str(STUB), str(b.root / "run"), "--relay"], stdout=subprocess.PIPE, env=b.env
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    yield b
    proc.kill()
    proc.wait()
    pid = b.agent_pid()  # a real agent the host may have started after the crash test
    if pid and pid != proc.pid:
        with __import__("contextlib").suppress(ProcessLookupError):
            __import__("os").kill(pid, 9)


@pytest.fixture(scope="module")
def other_extension(e2e_root: Path) -> Path:
    folder = e2e_root / "other-extension"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(OTHER_MANIFEST), encoding="utf-8")
    (folder / "bg.js").write_text("// nothing: the test evaluates code in this worker\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def stub_browser(playwright_instance: Any, stub_bridge: Bridge, other_extension: Path, e2e_root: Path) -> Iterator[Any]:
    context = chromium(
        playwright_instance, e2e_root / "stub-profile", stub_bridge.env, extensions=[EXTENSION, other_extension]
    )
    yield context
    context.close()


def test_three_megabyte_reply_crosses_in_chunks(stub_browser: Any, rp: RelyingParty) -> None:
    page = open_page(stub_browser, rp.origin(0) + "/")
    size = 3 * 1024 * 1024
    out = page.evaluate(
        f"""Sceau.request('list-certificates', {{size: {size}}}).then((r) => ({{
            length: r.blob.length, head: r.blob.slice(0, 12), sample: r.blob.slice(2000000, 2000120) }}))"""
    )
    unit = 'ab"c\\dé€😀\n' + "x" * 50
    whole = (unit * (size // len(unit) + 1))[:size]
    # JavaScript counts UTF-16 units: the emoji is two of them.
    assert out["length"] == size + whole.count("😀")
    assert out["head"] == whole.encode("utf-16-le")[:24].decode("utf-16-le")
    assert out["sample"] in whole


def test_agent_crash_mid_operation_reaches_the_page_as_internal(stub_browser: Any, rp: RelyingParty) -> None:
    page = open_page(stub_browser, rp.origin(0) + "/")
    out = call(page, "Sceau.signHash({hash: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', crash: true})")
    assert out["ok"] is False and out["code"] == "INTERNAL", out
    assert "Traceback" not in out["message"]


def test_another_extension_cannot_use_our_host(stub_browser: Any) -> None:
    workers = [w for w in stub_browser.service_workers if "bg.js" in w.url]
    worker = workers[0] if workers else stub_browser.wait_for_event("serviceworker", lambda w: "bg.js" in w.url)
    message = worker.evaluate(
        """() => new Promise((resolve) => {
            const port = chrome.runtime.connectNative('fr.sceau.agent');
            port.onMessage.addListener((m) => resolve('answered: ' + JSON.stringify(m)));
            port.onDisconnect.addListener(() => resolve(chrome.runtime.lastError?.message || 'disconnected'));
            port.postMessage({v: 1, id: 'x', cmd: 'hello'});
        })"""
    )
    assert "forbidden" in message.lower(), message
