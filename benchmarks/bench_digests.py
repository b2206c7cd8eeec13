"""`sign-digests` (LiberSign drop-in): a batch of 100 ACTES digests with one PIN, through the real handler
(certificate, consent, login, 100 detached CMS over page-given SHA-1 digests) on SoftHSM2 RSA-2048, against
100 raw token signatures (`Token.sign_raw` of a precomputed hash: the PKCS#11 floor) in the same run,
interleaved pairs. Goal (DESIGN.md §6): under 1 s for the batch; the ratio says what the CMS costs.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import time

from benchmarks.common import softhsm_pki

N = int(os.environ.get("SCEAU_BENCH_DIGESTS_N", "100"))
PAIRS = 5


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
    times: dict[str, list[float]] = {"sign-digests": [], "raw": []}
    for i in range(PAIRS):
        order = [("sign-digests", batch), ("raw", raw)] if i % 2 == 0 else [("raw", raw), ("sign-digests", batch)]
        for name, fn in order:
            if name == "sign-digests":
                token.logout()  # each batch logs in again: the PIN is asked once per batch, as for a user
            t0 = time.perf_counter()
            await fn()
            times[name].append(time.perf_counter() - t0)
    pins_per_batch = len(ui.pin_requests) / PAIRS
    batch_s, raw_s = statistics.median(times["sign-digests"]), statistics.median(times["raw"])
    print(f"SoftHSM2 {module}, RSA-2048, {N} items, {PAIRS} interleaved pairs (median)")
    for label, value in ((f"sign-digests, {N} ACTES digests (CMS)", batch_s), (f"{N} raw token signatures", raw_s)):
        print(f"  {label:<40} {value * 1e3:8.1f} ms  ({value / N * 1e3:.2f} ms each)")
    goal = "OK" if batch_s < 1.0 else "over the 1 s goal"
    print(f"  → batch / raw time ratio {batch_s / raw_s:.2f}×; PIN asked {pins_per_batch:.0f}× per batch [{goal}]")
    manager.close()


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
