"""`make bench`: run every benchmarks/bench_*.py in turn (each prints its own ratios).

Each runs as `python -m benchmarks.bench_<name>` from the repository root (the package's imports).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    only = sys.argv[1:]
    failed = []
    for script in sorted(here.glob("bench_*.py")):
        if only and script.stem not in only and script.stem.removeprefix("bench_") not in only:
            continue
        print(f"\n=== {script.stem} ===", flush=True)
        module = f"benchmarks.{script.stem}"
        if subprocess.run([sys.executable, "-m", module], cwd=here.parent, check=False).returncode != 0:
            failed.append(script.stem)
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
