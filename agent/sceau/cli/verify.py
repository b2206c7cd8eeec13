"""`sceau verify FILE [--detached DATA] [--trust CA.pem] [--lang fr|en]` — exit 0 only when valid.

Exit statuses: OK (valid), INVALID (the signature is not valid), UNREADABLE (the file could not be read
or analysed: missing, damaged, too deeply nested, too complex), USAGE, ERROR (anything else).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sceau.cli.common import fail, load_config
from sceau.errors import InvalidInput, TooLarge
from sceau.i18n import _
from sceau.protocol.constants import ExitCode


async def cmd_verify(args: argparse.Namespace) -> int:
    # Imported here: other subcommands must not pay for pyHanko / lxml.
    from sceau.formats.ltv import load_anchors
    from sceau.formats.verify_job import verify_isolated
    from sceau.formats.worker import Budget, WorkerPool

    source = Path(args.file)
    if not source.is_file():
        fail(InvalidInput(_("File not found: {path}").format(path=source)))
        return ExitCode.UNREADABLE
    detached = None
    detached_name = ""
    if args.detached:
        dpath = Path(args.detached)
        if not dpath.is_file():
            fail(InvalidInput(_("File not found: {path}").format(path=dpath)))
            return ExitCode.UNREADABLE
        detached, detached_name = dpath.read_bytes(), dpath.name
    cfg = load_config(args)
    anchors = load_anchors([*args.trust, *([] if args.trust else cfg.trust_anchors)])  # roots + intermediates
    # The same bounded worker as the agent: a hostile file is refused, never a traceback or a hang.
    lists = None
    if not args.no_trusted_lists:
        from sceau.trust.settings import lists_for

        lists = lists_for(cfg)
    missing = lists is None and cfg.trusted_lists and not args.no_trusted_lists
    pool = WorkerPool(1, Budget(timeout_s=cfg.parse_timeout_s))
    try:
        outcome = await verify_isolated(
            pool,
            source.read_bytes(),
            source.name,
            anchors,
            online=args.online,
            detached=detached,
            detached_name=detached_name,
            language=args.verify_lang,
            lists=lists,
            lists_missing=bool(missing),
        )
    except (InvalidInput, TooLarge) as exc:
        fail(exc)
        return ExitCode.UNREADABLE
    finally:
        pool.close()
    report = outcome.report
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(report["text"])
    if report["error"]:
        return ExitCode.UNREADABLE
    return ExitCode.OK if outcome.valid else ExitCode.INVALID


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("verify", help=_("verify a signed file (PAdES, CAdES, XAdES, PES)"))
    p.add_argument("file", metavar="FILE")
    p.add_argument("--detached", metavar="DATA", help=_("the signed document, for a detached signature"))
    p.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="CA.pem",
        help=_("trusted root certificates (default: trust_anchors from the configuration)"),
    )
    p.add_argument("--online", action="store_true", help=_("fetch CRL / OCSP answers named in the certificates"))
    p.add_argument(
        "--lang",
        dest="verify_lang",
        choices=["fr", "en"],
        default=None,
        help=_("language of the report (default: French)"),
    )
    p.add_argument("--json", action="store_true", help=_("print the report as JSON"))
    p.add_argument(
        "--no-trusted-lists", action="store_true", help=_("do not use the cached EU trusted lists (sceau trust)")
    )
    p.add_argument("--config", type=Path, metavar="FILE", help=_("configuration file"))
    p.set_defaults(func=cmd_verify)
