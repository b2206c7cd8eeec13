"""`sceau extend --level B-LTA FILE [--detached DATA] [--tsa URL] [-o OUT]`: archive time-stamps."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sceau.cli.common import load_config
from sceau.errors import BadRequest
from sceau.i18n import _
from sceau.protocol.constants import ExitCode


async def cmd_extend(args: argparse.Namespace) -> int:
    from sceau.formats import archive, naming
    from sceau.formats.ltv import load_anchors
    from sceau.formats.tsp import TsaClient
    from sceau.formats.verify import detect

    source = Path(args.file)
    if not source.is_file():
        raise BadRequest(_("File not found: {path}").format(path=source))
    cfg = load_config(args)
    tsa_url = args.tsa or cfg.tsa_url
    if not tsa_url:
        raise BadRequest(_("Level {level} needs a time-stamp server (TSA URL).").format(level=args.level))
    tsa = TsaClient(tsa_url)
    data = source.read_bytes()
    detached = Path(args.detached).read_bytes() if args.detached else None
    kind = detect(data)
    if kind == "pdf":
        out = await archive.extend_pdf(data, tsa, load_anchors([*args.trust, *cfg.trust_anchors]))
    elif kind == "xml":
        out = await archive.extend_xml(data, tsa, detached)
    else:
        from sceau.formats.cades_archive import extend_cms

        out = await extend_cms(data, tsa, detached)
    target = Path(args.output) if args.output else source.with_name(f"{source.stem} - LTA{source.suffix}")
    try:
        naming.atomic_write(target, out, overwrite=False)
    except FileExistsError:
        raise BadRequest(_("{out} already exists, not replaced.").format(out=target)) from None
    print(_("{name}: extended to {level} → {out}").format(name=source.name, level=args.level, out=target))
    return ExitCode.OK


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("extend", help=_("extend signatures to B-LTA (archive time-stamps)"))
    p.add_argument("file", metavar="FILE")
    p.add_argument("--level", default="B-LTA", choices=["B-LTA"])
    p.add_argument("--detached", metavar="DATA", help=_("the signed document, for a detached signature"))
    p.add_argument("--tsa", metavar="URL", help=_("time-stamp server (default: tsa_url from the configuration)"))
    p.add_argument("--trust", action="append", default=[], metavar="CA.pem", help=_("trusted root certificates"))
    p.add_argument("-o", "--output", metavar="OUT", help=_("output file (default: FILE - LTA.ext)"))
    p.add_argument("--config", type=Path, metavar="FILE", help=_("configuration file"))
    p.set_defaults(func=cmd_extend)
