"""Token engine vs raw PKCS#11 (same SoftHSM2 token, paired batches in the same run), and engine cold start.

Each pair is a batch of BATCH raw python-pkcs11 signatures and a batch of BATCH engine signatures
(`sign_raw`), interleaved (benchmarks.paired); a batch's cost is its median latency, so the ratio
raw / engine is the engine's per-call overhead factor (1.0 = none) with drift cancelled out.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from benchmarks.common import softhsm_pki
from benchmarks.paired import Paired, batch, compare

BATCH = int(os.environ.get("SCEAU_BENCH_TOKENS_BATCH", "100"))


RAW_WORKER = r"""
import hashlib, json, statistics, sys, time
import pkcs11
from pkcs11 import Attribute, Mechanism, ObjectClass
from sceau.devkit import softhsm
from sceau.tokens.base import Digest
from sceau.tokens.pkcs11_lib import DIGEST_INFO

module, key_ids = sys.argv[1], json.loads(sys.argv[2])
session = pkcs11.lib(module).get_token(token_label=softhsm.TOKEN_LABEL).open(user_pin=softhsm.USER_PIN)
keys = {
    name: next(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: bytes.fromhex(kid)}))
    for name, kid in key_ids.items()
}
digest = hashlib.sha256(b"document").digest()
for line in sys.stdin:
    name, n = line.split()
    mech, payload = (Mechanism.RSA_PKCS, DIGEST_INFO[Digest.SHA256]) if "rsa" in name else (Mechanism.ECDSA, b"")
    samples = []
    for _ in range(int(n)):
        t0 = time.perf_counter()
        keys[name].sign(payload + digest, mechanism=mech)
        samples.append(time.perf_counter() - t0)
    print(statistics.median(samples), flush=True)
"""


def _overhead_us(r: Paired) -> float:
    return statistics.median(c - b for b, c in zip(r.baseline_s, r.candidate_s, strict=True)) * 1e6


class RawWorker:
    """Raw python-pkcs11 signatures in a child process, one batch per request (median latency back)."""

    def __init__(self, module: str, key_ids: dict[str, str]) -> None:
        import json

        self.proc = subprocess.Popen(
            [sys.executable, "-c", RAW_WORKER, module, json.dumps(key_ids)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def batch(self, name: str, n: int) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{name} {n}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


def main() -> None:
    pki, module = softhsm_pki()
    from sceau.devkit import softhsm
    from sceau.tokens.base import Digest, SignScheme
    from sceau.tokens.pkcs11 import Pkcs11Backend
    from sceau.ui.headless import HeadlessUI

    print(f"SoftHSM2 {module}, RSA-2048 and EC P-256 signatures, batches of {BATCH} calls")
    backend = Pkcs11Backend([module])
    token = next(t for t in backend.tokens() if t.info.label == softhsm.TOKEN_LABEL)
    ui = HeadlessUI(pin=softhsm.USER_PIN)
    entries = {e.label: e for e in token.certificates()}
    # The raw side runs in its own process: PKCS#11 login state is per process, and the engine
    # keeps its own session and login.
    raw_worker = RawWorker(module, {name: pki[name].key_id for name in ("sign-rsa2048", "sign-ec256")})
    try:
        for name, scheme in (("sign-rsa2048", SignScheme.RSA_PKCS1V15), ("sign-ec256", SignScheme.ECDSA)):
            entry = entries[name]

            def engine(entry=entry, scheme=scheme) -> None:  # type: ignore[no-untyped-def]
                token.sign_raw(entry, b"document", scheme, Digest.SHA256, prehashed=False, prompt=ui.ask_pin)

            compare(
                f"{name} engine vs raw PKCS#11 (p50)",
                "raw python-pkcs11",
                lambda name=name: raw_worker.batch(name, BATCH),  # type: ignore[misc]
                "engine sign_raw",
                batch(engine, BATCH),
                goal=("overhead <= 50 us", lambda r: _overhead_us(r) <= 50),
                extra=lambda r: {"overhead": f"{_overhead_us(r):.0f} us"},
            )
    finally:
        raw_worker.close()
        backend.close()

    # Cold start: a fresh process importing the engine, finding the token and listing certificates.
    code = (
        "import time; t=time.perf_counter(); from sceau.app import build_token_manager; from sceau.config "
        "import Config; m=build_token_manager(Config()); m.entries(); print(time.perf_counter()-t)"
    )
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        samples.append((time.perf_counter() - t0, float(out.stdout)))
    wall = sorted(s[0] for s in samples)[2]
    inner = sorted(s[1] for s in samples)[2]
    print(
        f"  engine cold start (new process → certificates listed): median {wall * 1e3:.0f} ms wall, "
        f"{inner * 1e3:.0f} ms after interpreter start (goal ≤ 1500 ms)"
    )


if __name__ == "__main__":
    main()
