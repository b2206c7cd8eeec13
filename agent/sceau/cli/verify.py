"""`sceau verify FILE [--detached DATA] [--trust CA.pem] [--lang fr|en]` — exit 0 only when valid."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sceau.cli.common import load_config
from sceau.errors import BadRequest
from sceau.i18n import _
from sceau.protocol.constants import ExitCode


async def cmd_verify(args: argparse.Namespace) -> int:
    # Imported here: other subcommands must not pay for pyHanko / lxml.
    from sceau.formats.ltv import load_anchors
    from sceau.formats.verify import VerifyOptions, verify_bytes

    source = Path(args.file)
    if not source.is_file():
        raise BadRequest(_("File not found: {path}").format(path=source))
    detached = None
    detached_name = ""
    if args.detached:
        dpath = Path(args.detached)
        if not dpath.is_file():
            raise BadRequest(_("File not found: {path}").format(path=dpath))
        detached, detached_name = dpath.read_bytes(), dpath.name
    cfg = load_config(args)
    anchors = load_anchors([*args.trust, *([] if args.trust else cfg.trust_anchors)])  # roots + intermediates
    opts = VerifyOptions(anchors=anchors, online=args.online, detached=detached, detached_name=detached_name)
    if not args.no_trusted_lists:
        from sceau.trust.settings import lists_for

        opts.lists = lists_for(cfg)
    report = await verify_bytes(source.read_bytes(), source.name, opts)
    report.lists_missing = opts.lists is None and cfg.trusted_lists and not args.no_trusted_lists
    if args.json:
        print(json.dumps(report.to_json(args.verify_lang), indent=2, ensure_ascii=False))
    else:
        print(report.text(args.verify_lang))
    return ExitCode.OK if report.valid else ExitCode.INVALID


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
