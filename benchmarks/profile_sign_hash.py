"""Where the agent's time goes for one `sign-hash` (not part of `make bench`): an in-process agent
(SoftHSM2 token, headless consent, the background journal, a granted site), p50 latencies of an
unknown `fetch-chunk` (the dispatch floor), of `sign-hash`, and of the token's own `sign_raw`; then,
with `--profile`, cProfile of the sign-hash requests (`--sort tottime` to change the order).

    .venv/bin/python -m benchmarks.profile_sign_hash [N] [--profile] [--sort cumulative] [--no-journal]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import hashlib
import json
import pstats
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import softhsm_pki

KEY = "sign-rsa2048"
ORIGIN = "https://example.org"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=300)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--no-journal", action="store_true")
    opts = parser.parse_args()
    pki, module = softhsm_pki()
    from cryptography.hazmat.primitives.serialization import Encoding

    from sceau.app import Agent, build_token_manager
    from sceau.config import Config
    from sceau.devkit import softhsm
    from sceau.protocol.codes import Role
    from sceau.protocol.session import Session
    from sceau.store.journal_writer import BackgroundJournal
    from sceau.store.sites import TrustedSites
    from sceau.tokens.base import Digest, scheme_for
    from sceau.ui.headless import HeadlessUI

    root = Path(tempfile.mkdtemp(prefix="sceau-profile-"))
    (root / "data").mkdir()
    cfg = Config(
        pkcs11_modules=(module,),
        disable_module_discovery=True,
        data_dir=str(root / "data"),
        runtime_dir=str(root / "run"),
    )
    sites = TrustedSites(cfg.data_path())
    sites.grant(ORIGIN, ["sign"])
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True)
    journal = None if opts.no_journal else BackgroundJournal.from_config(cfg)
    agent = Agent(cfg, build_token_manager(cfg), ui, sites=sites, journal=journal)

    def frame(cmd: str, args: dict[str, object]) -> bytes:
        return json.dumps({"v": 1, "id": cmd[:1], "cmd": cmd, "origin": ORIGIN, "args": args}).encode()

    async def run() -> None:
        session = Session()
        listed = await agent.handle(frame("list-certificates", {"role": "sign"}), session=session)
        wanted = pki.cert(KEY).public_bytes(Encoding.DER)
        cid = next(c["id"] for c in listed["result"]["certificates"] if base64.b64decode(c["certificate"]) == wanted)
        digest = hashlib.sha256(b"document").digest()
        sign = frame("sign-hash", {"hash": base64.b64encode(digest).decode(), "certificate": cid})
        floor = frame("fetch-chunk", {"transfer": "none", "index": 0})
        entry = agent.tokens.require_entries(Role.SIGN, cid, None)[0]
        token = agent.tokens.token_of(entry)
        scheme = scheme_for(entry, None)
        for _ in range(20):
            reply = await agent.handle(sign, session=session)
        assert reply.get("ok"), reply

        async def p50(call: object) -> float:
            samples = []
            for _ in range(opts.n):
                t0 = time.perf_counter()
                if callable(call):
                    call()
                else:
                    await agent.handle(call, session=session)  # type: ignore[arg-type]
                samples.append(time.perf_counter() - t0)
                ui.consents.clear()
            return statistics.median(samples) * 1e3

        floor_ms, sign_ms = await p50(floor), await p50(sign)
        raw_ms = await p50(lambda: token.sign_raw(entry, digest, scheme, Digest.SHA256, prehashed=True, prompt=None))
        print(
            f"dispatch floor p50 {floor_ms:.3f} ms, sign-hash p50 {sign_ms:.3f} ms, token sign_raw p50 {raw_ms:.3f} ms"
        )
        lookup_ms = await p50(lambda: agent.tokens.require_entries(Role.SIGN, cid, None))
        print(f"agent overhead beyond the floor and the token: {sign_ms - floor_ms - raw_ms:.3f} ms")
        print(f"  of which the certificate lookup (require_entries, in a thread) {lookup_ms:.3f} ms")
        if opts.profile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(opts.n):
                await agent.handle(sign, session=session)
            prof.disable()
            pstats.Stats(prof).sort_stats(opts.sort).print_stats(40)

    try:
        asyncio.run(run())
    finally:
        agent.close()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(pki.root, ignore_errors=True)


if __name__ == "__main__":
    main()
