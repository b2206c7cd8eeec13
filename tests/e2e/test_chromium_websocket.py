"""The WebSocket fallback in real Chromium, without the extension: page → sceau.js → ws://127.0.0.1 →
the agent → SoftHSM2. Tokens are checked by `sceau_rp`, signatures by `cryptography`.

The agent runs headless with --yes: the first-connection question ("… veut se connecter à Sceau")
is answered yes, and the test checks it was stored as a `connect` grant in the trusted-sites store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sceau.devkit.bridge import CHROMIUM_QUIET, EXTENSION, Bridge, launch_chromium
from sceau.devkit.pki import DevPki
from sceau.devkit.testsite import RelyingParty, call, open_page
from sceau.protocol.codes import OperationKind
from sceau.store.sites import TrustedSites
from tests.e2e.helpers import E2E_ENV, validator
from tests.e2e.test_chromium_bridge import verify_prehashed

SEQUENTIAL_SIGNATURES = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ws_bridge(e2e_root: Path, softhsm_module: str, softhsm_conf: Path) -> Iterator[Bridge]:
    import os

    root = e2e_root / "websocket"
    root.mkdir()
    b = Bridge.prepare(root, module=softhsm_module, softhsm_conf=softhsm_conf, env={**os.environ, **E2E_ENV})
    port = free_port()
    config = root / "cfg" / "sceau" / "config.toml"
    config.write_text(config.read_text(encoding="utf-8") + f"websocket_port = {port}\n", encoding="utf-8")
    b.env["SCEAU_TEST_WS_PORT"] = str(port)
    proc = b.start_agent()
    deadline = time.monotonic() + 10
    while True:  # the WebSocket server starts right after the IPC socket
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the agent's WebSocket server did not start"
            time.sleep(0.05)
    yield b
    b.stop_agent(proc)


@pytest.fixture(scope="module")
def ws_rp(e2e_root: Path) -> Iterator[RelyingParty]:
    folder = e2e_root / "websocket-rp"
    folder.mkdir()
    server = RelyingParty(folder, ports=2)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bare_browser(playwright_instance: Any, ws_bridge: Bridge, e2e_root: Path) -> Iterator[Any]:
    """Chromium with no extension at all."""
    context = launch_chromium(
        playwright_instance,
        e2e_root / "websocket-profile",
        {**ws_bridge.env, "LANG": "fr_FR.UTF-8"},
        args=[*CHROMIUM_QUIET, "--lang=fr"],
        ignore_https_errors=True,
    )
    assert not context.service_workers
    yield context
    context.close()


def ws_page(context: Any, rp: RelyingParty, bridge: Bridge, index: int = 0) -> Any:
    page = open_page(context, rp.origin(index) + "/")
    port = bridge.env["SCEAU_TEST_WS_PORT"]
    page.evaluate(f"window.sceau = new Sceau({{websocketUrl: 'ws://127.0.0.1:{port}'}})")
    return page


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def handle(page: Any, role: str, cert: x509.Certificate) -> str:
    listed = call(page, f"sceau.listCertificates({{role: '{role}'}})")
    assert listed["ok"], listed
    return next(c["id"] for c in listed["result"] if base64.b64decode(c["certificate"]) == der(cert))


def test_detect_authenticate_and_sign_over_websocket(
    bare_browser: Any, ws_bridge: Bridge, ws_rp: RelyingParty, pki: DevPki
) -> None:
    origin = ws_rp.origin(0)
    page = ws_page(bare_browser, ws_rp, ws_bridge)
    info = page.evaluate("sceau.detect()")
    assert info["transport"] == "websocket" and info["extension"] is False and info["agent"] is True, info
    sites = TrustedSites(Path(ws_bridge.config.data_path()))
    assert sites.is_allowed(origin, OperationKind.CONNECT), "the first connection's answer is stored"

    wanted = pki.cert("auth-rsa2048")
    nonce = ws_rp.nonces.issue()
    token = call(page, f"sceau.authenticate({json.dumps(nonce)}, {{certificate: '{handle(page, 'auth', wanted)}'}})")
    assert token["ok"], token
    assert validator(pki, origin, ws_rp).validate(token["result"], nonce).certificate == wanted

    digest = hashlib.sha256(b"offre").digest()
    b64 = base64.b64encode(digest).decode()
    signed = call(
        page, f"sceau.signHash({{hash: '{b64}', certificate: '{handle(page, 'sign', pki.cert('sign-rsa2048'))}'}})"
    )
    assert signed["ok"], signed
    verify_prehashed(signed["result"]["certificate"], signed["result"]["signature"], digest)
    # Errors keep Sceau's codes on this path too.
    bad = call(page, "sceau.signHash({hash: 'AAAA'})")
    assert bad["ok"] is False and bad["code"] == "BAD_REQUEST", bad


def test_chunked_transfer_over_websocket(bare_browser: Any, ws_bridge: Bridge, ws_rp: RelyingParty) -> None:
    """A document larger than one inline message goes up in upload-chunk requests, as with the extension."""
    page = ws_page(bare_browser, ws_rp, ws_bridge)
    out = page.evaluate(
        """async () => {
             const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => i & 0xff);
             const ref = await sceau.upload(data, { name: "gros.bin", chunkSize: 1024 * 1024 });
             return ref;
           }"""
    )
    assert out["transfer"] and out["name"] == "gros.bin", out


def test_ten_tabs_each_get_their_own_replies(
    bare_browser: Any, ws_bridge: Bridge, ws_rp: RelyingParty, pki: DevPki
) -> None:
    pages = [ws_page(bare_browser, ws_rp, ws_bridge, 1) for _ in range(10)]
    cert = handle(pages[0], "sign", pki.cert("sign-rsa2048"))
    digests = [hashlib.sha256(f"tab {i}".encode()).digest() for i in range(10)]
    for page, digest in zip(pages, digests, strict=True):
        b64 = base64.b64encode(digest).decode()
        page.evaluate(
            f"() => {{ window.__r = window.run(() => sceau.signHash({{hash: '{b64}', certificate: '{cert}'}})); }}"
        )
    for page, digest in zip(pages, digests, strict=True):
        r = page.evaluate("window.__r")
        assert r["ok"], r
        verify_prehashed(r["result"]["certificate"], r["result"]["signature"], digest)  # its own digest
    for page in pages:
        page.close()


def test_sequential_sign_hash_no_failure_bounded_memory(
    bare_browser: Any, ws_bridge: Bridge, ws_rp: RelyingParty, pki: DevPki
) -> None:
    page = ws_page(bare_browser, ws_rp, ws_bridge)
    cert = handle(page, "sign", pki.cert("sign-ec256"))
    loop = """async ([count, cert]) => {
        const failures = [];
        const digest = new Uint8Array(32);
        for (let i = 0; i < count; i++) {
          digest[0] = i & 0xff; digest[1] = i >> 8;
          try { await sceau.signHash({ hash: digest, certificate: cert }); }
          catch (e) { failures.push(e.code); }
        }
        return failures;
      }"""
    assert page.evaluate(loop, [100, cert]) == []  # warm-up: caches, sessions, allocator
    agent = psutil.Process(ws_bridge.agent_pid())
    before = agent.memory_info().rss
    started = time.monotonic()
    failures = page.evaluate(loop, [SEQUENTIAL_SIGNATURES, cert])
    elapsed = time.monotonic() - started
    growth = agent.memory_info().rss - before
    assert failures == [], failures[:5]
    assert growth < 10 * 1024 * 1024, f"agent RSS grew by {growth / 1e6:.1f} MB"
    print(f"{SEQUENTIAL_SIGNATURES} sign-hash over WebSocket in {elapsed:.1f} s, RSS +{growth / 1e6:.2f} MB")


def test_local_network_access_denied_is_reported(
    playwright_instance: Any, ws_bridge: Bridge, ws_rp: RelyingParty, e2e_root: Path
) -> None:
    """Chrome's Local Network Access: a page of a *public* site (the test site declared public with
    --ip-address-space-overrides) reaching ws://127.0.0.1 needs the `loopback-network` permission.
    Denied, the page's WebSocket only fails (no reason given); sceau.js asks the Permissions API and
    reports LOCAL_NETWORK_DENIED. Granted (what the enterprise policy does), it works."""
    port = ws_rp.ports[1]
    context = launch_chromium(
        playwright_instance,
        e2e_root / "lna-profile",
        {**ws_bridge.env, "LANG": "fr_FR.UTF-8"},
        args=[*CHROMIUM_QUIET, "--lang=fr", f"--ip-address-space-overrides=127.0.0.1:{port}=public"],
        ignore_https_errors=True,
    )
    try:
        origin = f"https://127.0.0.1:{port}"
        page = open_page(context, origin + "/")
        cdp = context.new_cdp_session(page)
        ws_url = f"ws://127.0.0.1:{ws_bridge.env['SCEAU_TEST_WS_PORT']}"

        def set_permission(setting: str) -> None:
            cdp.send(
                "Browser.setPermission",
                {"permission": {"name": "loopback-network"}, "setting": setting, "origin": origin},
            )

        set_permission("denied")
        raw = page.evaluate(
            f"""() => new Promise((done) => {{ const ws = new WebSocket('{ws_url}');
                 ws.onopen = () => done('open'); ws.onerror = () => done('error'); }})"""
        )
        assert raw == "error"  # all the page itself learns
        page.evaluate(f"window.sceau = new Sceau({{websocketUrl: '{ws_url}'}})")
        info = page.evaluate("sceau.detect()")
        assert info == {"extension": False, "agent": False, "transport": None, "errorCode": "LOCAL_NETWORK_DENIED"}
        out = call(page, "sceau.request('hello')")
        assert out["code"] == "LOCAL_NETWORK_DENIED" and "accès au réseau local" in out["message"], out

        set_permission("granted")
        page.evaluate(f"window.sceau = new Sceau({{websocketUrl: '{ws_url}'}})")
        info = page.evaluate("sceau.detect()")
        assert info["transport"] == "websocket" and info["agent"] is True, info
    finally:
        context.close()


def test_self_contained_build_in_a_page(
    bare_browser: Any, ws_bridge: Bridge, ws_rp: RelyingParty, pki: DevPki, e2e_root: Path
) -> None:
    """What a platform serves: one file (classic script or ES module), nothing beside it."""
    out = e2e_root / "sceau-build"
    subprocess.run(
        ["node", str(EXTENSION / "tools" / "build_sceau.mjs"), "--out", str(out)], check=True, capture_output=True
    )
    ws_url = f"ws://127.0.0.1:{ws_bridge.env['SCEAU_TEST_WS_PORT']}"
    page = bare_browser.new_page()
    page.goto(ws_rp.origin(0) + "/nonce")  # a page of the site that loads no library
    page.add_script_tag(content=(out / "sceau.js").read_text(encoding="utf-8"))
    nonce = ws_rp.nonces.issue()
    token = page.evaluate(
        f"""async () => {{ const s = new SceauLib.Sceau({{ websocketUrl: '{ws_url}' }});
             const info = await s.detect();
             return {{ transport: info.transport, token: await s.authenticate({json.dumps(nonce)}) }}; }}"""
    )
    assert token["transport"] == "websocket"
    assert validator(pki, ws_rp.origin(0), ws_rp).validate(token["token"], nonce).certificate
    page.add_script_tag(
        type="module",
        content=(out / "sceau.mjs").read_text(encoding="utf-8") + "\nwindow.__esm = { Sceau, ErrorCode };\n",
    )
    page.wait_for_function("window.__esm !== undefined")
    info = page.evaluate(f"new window.__esm.Sceau({{ websocketUrl: '{ws_url}' }}).detect()")
    assert info["transport"] == "websocket" and info["agent"] is True, info
    page.close()


def test_hostile_handshakes_against_the_agent_while_a_page_is_served(
    bare_browser: Any, ws_bridge: Bridge, ws_rp: RelyingParty, pki: DevPki
) -> None:
    """The real agent process: a Chromium page keeps signing while hostile clients hammer the port."""
    import asyncio

    from tests.transports.test_websocket_limits import raw_handshake

    port = int(ws_bridge.env["SCEAU_TEST_WS_PORT"])
    page = ws_page(bare_browser, ws_rp, ws_bridge)
    cert = handle(page, "sign", pki.cert("sign-ec256"))
    page.evaluate(
        """(cert) => { window.__stop = false; window.__loop = (async () => {
             const failures = []; let done = 0; const digest = new Uint8Array(32);
             while (!window.__stop) {
               try { await sceau.signHash({ hash: digest, certificate: cert }); done++; }
               catch (e) { failures.push(e.code); }
             }
             return { failures, done };
           })(); }""",
        cert,
    )

    async def hostile() -> dict[str, Any]:
        good = f"https://localhost:{ws_rp.ports[0]}"
        slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(30)]
        for _r, w in slow:
            w.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:")
            await w.drain()
        statuses = {
            "missing": await raw_handshake(port, [f"127.0.0.1:{port}"], ""),
            "null": await raw_handshake(port, [f"127.0.0.1:{port}"], "null"),
            "http": await raw_handshake(port, [f"127.0.0.1:{port}"], "http://marches.example.fr"),
            "rebinding": await raw_handshake(port, [f"attacker.example:{port}"], good),
        }
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX: {'a' * 20_000}\r\n\r\n".encode())
        await w.drain()
        oversize = await asyncio.wait_for(r.read(200), 10)
        w.close()
        rapid = []
        for _ in range(20):
            rapid += await asyncio.gather(*(raw_handshake(port, [f"127.0.0.1:{port}"], "null") for _ in range(50)))
        dropped = [await asyncio.wait_for(rr.read(), 15) for rr, _w in slow]  # handshake timeout: 5 s
        for _r, w in slow:
            w.close()
        return {"statuses": statuses, "oversize": oversize, "rapid": rapid, "dropped": dropped}

    # Playwright's sync API owns this thread's event loop: the hostile clients get their own thread.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        out = pool.submit(lambda: asyncio.run(hostile())).result(120)
    page.evaluate("window.__stop = true")
    served = page.evaluate("window.__loop")
    assert set(out["statuses"].values()) == {b"HTTP/1.1 403"}, out["statuses"]
    assert out["oversize"].startswith(b"HTTP/1.1 4") or out["oversize"] == b"", out["oversize"][:40]
    assert out["rapid"] == [b"HTTP/1.1 403"] * 1000
    assert all(not d.startswith(b"HTTP/1.1 101") for d in out["dropped"])
    assert served["failures"] == [] and served["done"] > 20, served
