"""`sign-digests` (LiberSign drop-in): a batch of 100 ACTES digests with one PIN, through the real handler
(certificate, consent, login, 100 detached CMS over page-given SHA-1 digests) on SoftHSM2 RSA-2048, against
100 raw token signatures (`Token.sign_raw` of a precomputed hash: the PKCS#11 floor) in the same run,
interleaved pairs (benchmarks.paired). Goal (DESIGN.md §6): under 1 s for the batch; the ratio says what the CMS costs.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import time
from collections.abc import Awaitable, Callable

from benchmarks.common import softhsm_pki
from benchmarks.paired import WARMUP, compare

N = int(os.environ.get("SCEAU_BENCH_DIGESTS_N", "100"))


async def main_async() -> None:
    pki, module = softhsm_pki()
    from cryptography.hazmat.primitives.serialization import Encoding

    from sceau.config import Config
    from sceau.devkit import softhsm
    from sceau.operations.context import OperationContext
    from sceau.operations.sign_digests import OPERATION
    from sceau.tokens.base import Digest, SignScheme
    from sceau.tokens.executor import TokenExecutor
    from sceau.tokens.pkcs11 import Pkcs11Backend
    from sceau.tokens.registry import TokenManager
    from sceau.ui.headless import HeadlessUI

    handle = hashlib.sha256(pki.cert("sign-rsa2048").public_bytes(Encoding.DER)).hexdigest()[:32]
    items = [
        {"format": "cms", "hash": hashlib.sha1(b"acte %d" % i).hexdigest(), "hashAlgorithm": "sha1"} for i in range(N)
    ]
    params = OPERATION.parse({"items": items, "certificate": handle})
    manager = TokenManager([Pkcs11Backend([module])])
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True)
    ctx = OperationContext(
        "https://s2low.example.fr", ui, manager, Config(trust_anchors=(str(pki.chain),)), TokenExecutor()
    )
    entry = next(e for e in manager.entries() if e.label == "sign-rsa2048")
    token = manager.token_of(entry)
    digest = hashlib.sha256(b"document").digest()

    async def batch() -> None:
        result = await OPERATION.run(ctx, params)
        assert result["count"] == N

    async def raw() -> None:
        for _ in range(N):
            token.sign_raw(entry, digest, SignScheme.RSA_PKCS1V15, Digest.SHA256, prehashed=True, prompt=ui.ask_pin)

    await batch()  # warm-up (imports, login)
    await raw()
    ui.pin_requests.clear()
    loop = asyncio.get_running_loop()

    def timed(fn: Callable[[], Awaitable[None]], *, login: bool = False) -> Callable[[], float]:
        async def run() -> float:
            if login:
                token.logout()  # each batch logs in again: the PIN is asked once per batch, as for a user
            t0 = time.perf_counter()
            await fn()
            return time.perf_counter() - t0

        # The pairing runs the sides synchronously: each on this loop, from a worker thread.
        return lambda: asyncio.run_coroutine_threadsafe(run(), loop).result()

    print(f"SoftHSM2 {module}, RSA-2048, {N} items")
    await asyncio.to_thread(
        compare,
        f"sign-digests {N} ACTES digests",
        f"{N} raw token signatures",
        timed(raw),
        "sign-digests (CMS, one PIN)",
        timed(batch, login=True),
        goal=("batch < 1 s", lambda r: statistics.median(r.candidate_s) < 1.0),
        # Every batch (warm-up included) logs in again: one PIN each, never one per digest.
        extra=lambda r: {"PIN per batch": f"{len(ui.pin_requests) / (len(r.ratios) + WARMUP):.0f}"},
    )
    manager.close()


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
