"""Bridge overhead: `sign-hash` page → extension → native host → agent → SoftHSM2, vs the raw PKCS#11
call in the same run (RSA-2048, sequential). Also the agent alone over its socket, to split the cost.

Goal (issue 4): p50 overhead ≤ 3 ms and ≥ 250 sequential ops/s through the browser.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path

from benchmarks.common import pct, report, softhsm_pki, timed

N = 300
KEY = "sign-rsa2048"


def main() -> None:
    pki, module = softhsm_pki()
    import pkcs11
    from pkcs11 import Attribute, Mechanism, ObjectClass

    from sceau.devkit import softhsm
    from sceau.devkit.bridge import Bridge, launch_chromium
    from sceau.devkit.testsite import RelyingParty, open_page
    from sceau.protocol.framing import FrameDecoder, encode_frame
    from sceau.store.sites import TrustedSites
    from sceau.tokens.base import Digest
    from sceau.tokens.pkcs11_lib import DIGEST_INFO
    from sceau_native_host.relay import connect

    digest = hashlib.sha256(b"document").digest()
    print(f"SoftHSM2 {module}, {KEY}, sign-hash of a SHA-256 digest, {N} sequential calls each")

    # 1. Raw PKCS#11 (python-pkcs11, session already open and logged in).
    lib = pkcs11.lib(module)
    tok = lib.get_token(token_label=softhsm.TOKEN_LABEL)
    with tok.open(user_pin=softhsm.USER_PIN) as session:
        key = next(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: bytes.fromhex(pki[KEY].key_id)}
            )
        )
        raw = timed(lambda: key.sign(DIGEST_INFO[Digest.SHA256] + digest, mechanism=Mechanism.RSA_PKCS), N)

    root = Path(tempfile.mkdtemp(prefix="sceau-bench-bridge-"))
    (root / "bridge").mkdir()
    bridge = Bridge.prepare(
        root / "bridge", module=module, softhsm_conf=Path(os.environ["SOFTHSM2_CONF"]), max_message_bytes=64 << 20
    )
    agent = bridge.start_agent()
    rp = RelyingParty(root, ports=1)
    rp.start()
    origin = rp.origin(0)
    TrustedSites(bridge.config.data_path()).grant(origin, ["sign"])
    try:
        # 2. The agent alone, over its Unix socket (protocol core + engine + executor + consent).
        link = connect(bridge.config)
        decoder = FrameDecoder(1 << 24)
        cert_id = None

        def ipc_call(msg: dict[str, object]) -> dict[str, object]:
            link.send(encode_frame(msg))
            while True:
                bodies = decoder.feed(link.recv())
                if bodies:
                    reply: dict[str, object] = json.loads(bodies[0])
                    return reply

        listed = ipc_call({"v": 1, "id": "l", "cmd": "list-certificates", "origin": origin, "args": {"role": "sign"}})
        wanted = pki.cert(KEY).public_bytes(__import__("cryptography").hazmat.primitives.serialization.Encoding.DER)
        for c in listed["result"]["certificates"]:  # type: ignore[index]
            if base64.b64decode(c["certificate"]) == wanted:
                cert_id = c["id"]
        assert cert_id, "test certificate not listed"
        args = {"hash": base64.b64encode(digest).decode(), "certificate": cert_id}
        via_ipc = timed(lambda: ipc_call({"v": 1, "id": "s", "cmd": "sign-hash", "origin": origin, "args": args}), N)
        link.close()

        # 3. The whole bridge, timed inside the page.
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            context = launch_chromium(pw, root / "profile", bridge.env, ignore_https_errors=True)
            page = open_page(context, origin + "/")
            samples = page.evaluate(
                """async ([n, args]) => {
                    for (let i = 0; i < 5; i++) await Sceau.signHash(args);
                    const out = [];
                    for (let i = 0; i < n; i++) {
                        const t0 = performance.now();
                        await Sceau.signHash(args);
                        out.push((performance.now() - t0) / 1000);
                    }
                    return out;
                }""",
                [N, args],
            )
            context.close()
    finally:
        rp.stop()
        os.kill(agent.pid, signal.SIGTERM)
        agent.wait(10)

    report("raw PKCS#11 (python-pkcs11)", raw)
    report("agent over IPC (python client)", via_ipc)
    report("browser bridge (page → … → SoftHSM2)", samples)
    overhead = pct(samples, 0.5) - pct(raw, 0.5)
    ops = len(samples) / sum(samples)
    print(
        f"  → bridge p50 overhead {overhead * 1e3:.2f} ms (goal ≤ 3 ms; Fortify ~7.4 ms), "
        f"{ops:.0f} ops/s (goal ≥ 250; Fortify ~110)"
    )
    print(
        f"  → of which agent+IPC {(pct(via_ipc, 0.5) - pct(raw, 0.5)) * 1e3:.2f} ms, "
        f"browser+host {(pct(samples, 0.5) - pct(via_ipc, 0.5)) * 1e3:.2f} ms"
    )
    subprocess.run(["rm", "-rf", str(root)], check=False)


if __name__ == "__main__":
    main()
