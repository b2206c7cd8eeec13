"""`python -m examples.platform PKI_DIR [--port N] [--walkthrough] [--no-browser] [--https]`.

What `sceau demo --serve` runs (from the repository root) once the demo token exists in PKI_DIR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from examples.platform.demo import serve
from sceau.devkit.pki import DevPki


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.platform", description=__doc__)
    parser.add_argument("pki", type=Path, help="demo PKI directory (with its SoftHSM2 token)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--walkthrough", action="store_true")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--https", action="store_true")
    args = parser.parse_args(argv)
    pki = DevPki.load(args.pki)
    return serve(pki, args.port, walkthrough=args.walkthrough, open_browser=not args.no_browser, https=args.https)


if __name__ == "__main__":
    sys.exit(main())
