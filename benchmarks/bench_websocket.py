"""WebSocket fallback vs native messaging vs the raw PKCS#11 call, in one run: `sign-hash` of a SHA-256
digest with RSA-2048 on SoftHSM2, sequential, timed inside the page for the two browser paths.

One agent serves both paths (IPC for the extension's native host, ws://127.0.0.1 for the page
without the extension); the two pages are measured in alternating blocks so drift hits both alike.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from benchmarks.common import pct, report, softhsm_pki, timed

N = 300
BLOCK = 50
KEY = "sign-rsa2048"

LOOP = """async ([n, args]) => {
    const out = [];
    for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await window.client.signHash(args);
        out.push((performance.now() - t0) / 1000);
    }
    return out;
}"""


def main() -> None:
    pki, module = softhsm_pki()
    import pkcs11
    from cryptography.hazmat.primitives.serialization import Encoding
    from pkcs11 import Attribute, Mechanism, ObjectClass
    from playwright.sync_api import sync_playwright

    from sceau.devkit import softhsm
    from sceau.devkit.bridge import CHROMIUM_QUIET, Bridge, launch_chromium
    from sceau.devkit.testsite import RelyingParty, open_page
    from sceau.store.sites import TrustedSites
    from sceau.tokens.base import Digest
    from sceau.tokens.pkcs11_lib import DIGEST_INFO

    digest = hashlib.sha256(b"document").digest()
    print(f"SoftHSM2 {module}, {KEY}, sign-hash of a SHA-256 digest, {N} sequential calls per path")
    lib = pkcs11.lib(module)
    tok = lib.get_token(token_label=softhsm.TOKEN_LABEL)
    with tok.open(user_pin=softhsm.USER_PIN) as session:
        key = next(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: bytes.fromhex(pki[KEY].key_id)}
            )
        )
        raw = timed(lambda: key.sign(DIGEST_INFO[Digest.SHA256] + digest, mechanism=Mechanism.RSA_PKCS), N)

    root = Path(tempfile.mkdtemp(prefix="sceau-bench-ws-"))
    (root / "bridge").mkdir()
    bridge = Bridge.prepare(root / "bridge", module=module, softhsm_conf=Path(os.environ["SOFTHSM2_CONF"]))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = root / "bridge" / "cfg" / "sceau" / "config.toml"
    config.write_text(config.read_text(encoding="utf-8") + f"websocket_port = {port}\n", encoding="utf-8")
    agent = bridge.start_agent()
    rp = RelyingParty(root, ports=2)
    rp.start()
    native_origin, ws_origin = rp.origin(0), rp.origin(1)
    sites = TrustedSites(bridge.config.data_path())
    sites.grant(native_origin, ["sign"])
    sites.grant(ws_origin, ["sign", "connect"])
    native: list[float] = []
    websocket: list[float] = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "WebSocket server not up"
                time.sleep(0.05)
        with sync_playwright() as pw:
            with_ext = launch_chromium(pw, root / "profile-ext", bridge.env, ignore_https_errors=True)
            without = launch_chromium(
                pw, root / "profile-ws", bridge.env, args=[*CHROMIUM_QUIET], ignore_https_errors=True
            )
            pages = {}
            for name, context, origin, transport in (
                ("native", with_ext, native_origin, "extension"),
                ("ws", without, ws_origin, "websocket"),
            ):
                page = open_page(context, origin + "/")
                page.evaluate(
                    f"window.client = new Sceau({{transport: '{transport}', websocketUrl: 'ws://127.0.0.1:{port}'}})"
                )
                listed = page.evaluate("client.listCertificates({role: 'sign'})")
                wanted = base64.b64encode(pki.cert(KEY).public_bytes(Encoding.DER)).decode()
                cert_id = next(c["id"] for c in listed if c["certificate"] == wanted)
                args = {"hash": base64.b64encode(digest).decode(), "certificate": cert_id}
                page.evaluate(LOOP, [5, args])  # warm-up
                pages[name] = (page, args)
            for _ in range(N // BLOCK):  # alternate blocks: A/B in the same run
                native += pages["native"][0].evaluate(LOOP, [BLOCK, pages["native"][1]])
                websocket += pages["ws"][0].evaluate(LOOP, [BLOCK, pages["ws"][1]])
            with_ext.close()
            without.close()
    finally:
        rp.stop()
        bridge.stop_agent(agent)

    report("raw PKCS#11 (python-pkcs11)", raw)
    report("native messaging (page → extension → host)", native)
    report("WebSocket (page → ws://127.0.0.1 → agent)", websocket)
    base = pct(raw, 0.5)
    print(
        f"  → p50 overhead over raw: native messaging {(pct(native, 0.5) - base) * 1e3:.2f} ms, "
        f"WebSocket {(pct(websocket, 0.5) - base) * 1e3:.2f} ms; "
        f"WebSocket/native p50 ratio {pct(websocket, 0.5) / pct(native, 0.5):.2f}, "
        f"p95 ratio {pct(websocket, 0.95) / pct(native, 0.95):.2f}"
    )
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
