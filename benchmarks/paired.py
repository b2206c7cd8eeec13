"""Paired A/B measurement: baseline and candidate interleaved, the median of per-pair ratios.

On a shared machine the load drifts over seconds; measuring A fully then B fully attributes that
drift to whichever ran second. Here each pair runs both sides back to back (the order alternates,
A B then B A, so neither always gets the warmer cache), after warm-up runs that are thrown away,
and the reported figure is the median of the per-pair ratios with their min–max.

    r = compare("encrypt 1 GB", "openssl", run_openssl, "sceau", run_sceau, pairs=5)

Each side is a callable returning its cost in seconds (use `clock(fn)` to time a plain call, or
return a batch's median latency). `ratio` is baseline cost / candidate cost: above 1 the candidate
is faster. Results are appended to the file named by SCEAU_BENCH_RESULTS (set by `benchmarks.run`)
so the runner can print one summary table and write benchmarks/results.json.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

PAIRS = int(os.environ.get("SCEAU_BENCH_PAIRS", "5"))
WARMUP = int(os.environ.get("SCEAU_BENCH_WARMUP", "1"))
RESULTS_ENV = "SCEAU_BENCH_RESULTS"


@dataclass
class Paired:
    name: str
    baseline: str
    candidate: str
    baseline_s: list[float]
    candidate_s: list[float]
    ratios: list[float]  # baseline / candidate, one per pair
    goal: str = ""
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def line(self) -> str:
        b, c = statistics.median(self.baseline_s), statistics.median(self.candidate_s)
        goal = f"  goal {self.goal}: {'met' if self.met else 'NOT met'}" if self.goal else ""
        extra = "".join(f"  {k} {v}" for k, v in self.extra.items())
        return (
            f"{self.name:<38} {self.candidate} {_fmt(c)} vs {self.baseline} {_fmt(b)}  "
            f"ratio {self.median:.2f}x [{min(self.ratios):.2f}–{max(self.ratios):.2f}] n={len(self.ratios)}"
            f"{extra}{goal}"
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["median_ratio"] = self.median
        out["min_ratio"], out["max_ratio"] = min(self.ratios), max(self.ratios)
        return out


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 1 else f"{seconds:.3f} s"


def clock(fn: Callable[[], object]) -> Callable[[], float]:
    """A side for `compare`: the wall time of one call of `fn`."""

    def run() -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    return run


def batch(fn: Callable[[], object], n: int) -> Callable[[], float]:
    """A side for `compare`: the median latency of `n` consecutive calls of `fn` (for short operations)."""

    def run() -> float:
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples)

    return run


def compare(
    name: str,
    baseline_label: str,
    baseline: Callable[[], float],
    candidate_label: str,
    candidate: Callable[[], float],
    *,
    pairs: int = PAIRS,
    warmup: int = WARMUP,
    goal: tuple[str, Callable[[Paired], bool]] | None = None,
    extra: Callable[[Paired], dict[str, Any]] | None = None,
) -> Paired:
    """Run `warmup` then `pairs` interleaved pairs; print and record the result."""
    for _ in range(warmup):
        baseline()
        candidate()
    bs: list[float] = []
    cs: list[float] = []
    for i in range(pairs):
        if i % 2 == 0:
            b = baseline()
            c = candidate()
        else:
            c = candidate()
            b = baseline()
        bs.append(b)
        cs.append(c)
    result = Paired(name, baseline_label, candidate_label, bs, cs, [b / c for b, c in zip(bs, cs, strict=True)])
    if extra is not None:
        result.extra.update(extra(result))
    if goal is not None:
        result.goal, check = goal
        result.met = bool(check(result))
    record(result)
    return result


def record(result: Paired) -> None:
    print("  " + result.line(), flush=True)
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")


def load(path: str) -> list[Paired]:
    out = []
    with open(path, encoding="utf-8") as f:
        for text in f:
            d = json.loads(text)
            for k in ("median_ratio", "min_ratio", "max_ratio"):
                d.pop(k, None)
            out.append(Paired(**d))
    return out
