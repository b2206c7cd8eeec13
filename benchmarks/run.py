"""`make bench`: run benchmarks/bench_*.py in turn, then one summary table of every paired comparison.

`python -m benchmarks.run [names]` (e.g. `cms tokens`); each runs as `python -m benchmarks.bench_<name>`
from the repository root. Sizes are set by environment variables (SCEAU_BENCH_CMS_MB, ...; see each
module) so small runs are quick; SCEAU_BENCH_PAIRS / SCEAU_BENCH_WARMUP set the pairing (default 5 / 1).
The summary is also written to benchmarks/results.json (not committed) so runs can be compared.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.paired import RESULTS_ENV, load


def main() -> int:
    here = Path(__file__).resolve().parent
    only = sys.argv[1:]
    failed = []
    fd, results_path = tempfile.mkstemp(prefix="sceau-bench-", suffix=".jsonl")
    os.close(fd)
    env = dict(os.environ, **{RESULTS_ENV: results_path})
    try:
        for script in sorted(here.glob("bench_*.py")):
            if only and script.stem not in only and script.stem.removeprefix("bench_") not in only:
                continue
            print(f"\n=== {script.stem} ===", flush=True)
            module = f"benchmarks.{script.stem}"
            if subprocess.run([sys.executable, "-m", module], cwd=here.parent, env=env, check=False).returncode:
                failed.append(script.stem)
        results = load(results_path)
    finally:
        os.unlink(results_path)
    print("\n=== summary (ratio = baseline time / candidate time, median of pairs [min–max]) ===")
    for r in results:
        print("  " + r.line())
    out = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"node": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "failed": failed,
        "results": [r.to_json() for r in results],
    }
    (here / "results.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"  written to {here / 'results.json'}")
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
