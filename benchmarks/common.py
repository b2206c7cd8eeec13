"""Helpers shared by the benchmarks: a throw-away PKI + SoftHSM2 token, timing, reporting."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sceau.devkit import pki as devpki
from sceau.devkit import softhsm


def softhsm_pki() -> tuple[devpki.DevPki, str]:
    """A PKI and SoftHSM2 token in a temp dir; sets SOFTHSM2_CONF (call before loading the module)."""
    root = Path(tempfile.mkdtemp(prefix="sceau-bench-"))
    pki = devpki.generate(root)
    conf = softhsm.create_token(pki)
    os.environ["SOFTHSM2_CONF"] = str(conf)
    module = softhsm.find_module()
    assert module is not None
    return pki, module


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Per-call durations (seconds) of `n` calls after 3 warm-up calls."""
    for _ in range(3):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def report(name: str, samples: list[float]) -> None:
    ops = len(samples) / sum(samples)
    print(
        f"  {name:<44} p50 {pct(samples, 0.5) * 1e3:7.3f} ms  p95 {pct(samples, 0.95) * 1e3:7.3f} ms  "
        f"{ops:8.1f} ops/s  (mean {statistics.mean(samples) * 1e3:.3f} ms)"
    )
