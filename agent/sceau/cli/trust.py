"""`sceau trust refresh|status`: the EU trusted lists (LOTL → national lists) in the local cache."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sceau.cli.common import load_config
from sceau.i18n import _
from sceau.protocol.constants import ExitCode


async def cmd_refresh(args: argparse.Namespace) -> int:
    from sceau.trust.refresh import load_signers, refresh

    cfg = load_config(args)
    territories = ["*"] if args.all else (args.territory or list(cfg.trusted_lists_territories))
    outcomes = await refresh(
        cfg.data_path(),
        url=args.url or cfg.trusted_lists_url,
        signers=load_signers(args.signers or list(cfg.trusted_lists_signers)),
        territories=territories,
    )
    for o in outcomes:
        mark = "✓" if o.ok else "✗"
        print(f"{mark} {o.key}: {o.message}  <{o.url}>")
    return ExitCode.OK if all(o.ok for o in outcomes) else ExitCode.ERROR


def cmd_status(args: argparse.Namespace) -> int:
    from sceau.trust import cache

    cfg = load_config(args)
    index = cache.read_index(cfg.data_path())
    if args.json:
        body = {"lastRefresh": index.last_refresh, "lists": {k: e.to_json() for k, e in index.entries.items()}}
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return ExitCode.OK
    if not index.entries:
        print(_("No trusted list in the cache: run `sceau trust refresh`."))
        return ExitCode.ERROR
    print(_("Last refresh: {time}").format(time=index.last_refresh or "?"))
    for key, e in sorted(index.entries.items()):
        state = _("fetched {time}, sequence {n}, next update {next}").format(
            time=e.fetched or "-", n=e.sequence, next=e.next_update or "-"
        )
        print(f"{key}: {state}" + (f"\n  ✗ {e.error}" if e.error else ""))
    return ExitCode.OK


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("trust", help=_("EU trusted lists: refresh the local cache, show its state"))
    sub = p.add_subparsers(dest="trust_command", required=True, metavar="ACTION")
    r = sub.add_parser("refresh", help=_("download and verify the LOTL and the national lists"))
    r.add_argument("--url", help=_("address of the list of trusted lists (default: configuration)"))
    r.add_argument("--territory", action="append", metavar="CC", help=_("national list to fetch (default: FR)"))
    r.add_argument("--all", action="store_true", help=_("fetch every national list the LOTL points to"))
    r.add_argument(
        "--signers", action="append", metavar="PEM", help=_("certificates allowed to sign the LOTL (pivot set)")
    )
    r.add_argument("--config", type=Path, metavar="FILE", help=_("configuration file"))
    r.set_defaults(func=cmd_refresh)
    s = sub.add_parser("status", help=_("show the cached lists, their age and the last errors"))
    s.add_argument("--json", action="store_true", help=_("print the state as JSON"))
    s.add_argument("--config", type=Path, metavar="FILE", help=_("configuration file"))
    s.set_defaults(func=cmd_status)
