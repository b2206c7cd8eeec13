"""`sceau sign --format {cades,xades,pades,pes} [--level ...] [--tsa URL] [TOKEN OPTIONS] -o OUT FILE...`

Same engine as the agent's `sign-documents`: one consent (--yes), one PIN for all files.
Detached formats write `NAME - Signature N.p7s|.xml` (first free N) into OUT when OUT is a
folder (or next to each file without -o); PAdES / PES write the signed file. Outputs are
written atomically and never replace an existing file.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sceau.cli.common import add_token_options as _add_token_options
from sceau.cli.common import headless_ui, load_config, select_entry, token_manager
from sceau.errors import BadRequest, SceauError, UserCancelled
from sceau.i18n import _
from sceau.protocol.codes import OperationKind, Role
from sceau.protocol.constants import ExitCode
from sceau.protocol.documents import DocumentInfo
from sceau.tokens.base import Digest, SignScheme
from sceau.tokens.executor import TokenExecutor
from sceau.ui.api import ConsentRequest

if TYPE_CHECKING:
    from sceau.formats.engine import DocumentJob
    from sceau.formats.pades import VisibleSignature

# Kept literal so that `sceau --help` and other subcommands do not import pyHanko / lxml.
FORMATS = ("cades", "xades", "pades", "pes")
LEVELS = ("B-B", "B-T", "B-LT")


def _visible(spec: str | None) -> VisibleSignature | None:
    """`PAGE:x1,y1,x2,y2` (page 1-based, -1 = last)."""
    from sceau.formats.pades import VisibleSignature

    if not spec:
        return None
    try:
        page, _sep, box = spec.partition(":")
        coords = [int(v) for v in box.split(",")] if box else [50, 50, 300, 120]
        if len(coords) != 4 or int(page) == 0:
            raise ValueError
        return VisibleSignature(page=int(page), box=(coords[0], coords[1], coords[2], coords[3]))
    except ValueError:
        raise BadRequest(_("--visible expects PAGE or PAGE:x1,y1,x2,y2.")) from None


def _target(args: argparse.Namespace, source: Path, job: DocumentJob, dated: datetime | None) -> Path:
    from sceau.formats.engine import output_name

    out = Path(args.output) if args.output else None
    folder = out if out is not None and (out.is_dir() or len(args.files) > 1) else None
    if out is not None and folder is None:
        return out
    folder = folder or source.parent
    folder.mkdir(parents=True, exist_ok=True)
    if job.format.detached:
        return folder / output_name(job, lambda n: (folder / n).exists(), dated)
    signed_name = f"{source.stem} - signé{source.suffix}"
    return folder / signed_name


async def cmd_sign(args: argparse.Namespace) -> int:
    from sceau.formats import naming
    from sceau.formats.engine import DocumentJob, guess_mime, sign_job
    from sceau.formats.kinds import Format, Level
    from sceau.formats.ltv import load_anchors
    from sceau.formats.options import SignOptions
    from sceau.formats.pades import PadesOptions
    from sceau.formats.pes import PesOptions
    from sceau.formats.signer import BatchPinPrompt, TokenKey
    from sceau.formats.tsp import TsaClient

    fmt = Format(args.format)
    level = Level(args.level)
    cfg = load_config(args)
    tsa_url = args.tsa or cfg.tsa_url
    if level.timestamped and not tsa_url:
        raise BadRequest(_("Level {level} needs a time-stamp server (TSA URL).").format(level=level.value))
    sources = [Path(f) for f in args.files]
    for s in sources:
        if not s.is_file():
            raise BadRequest(_("File not found: {path}").format(path=s))
    options = SignOptions(
        level=level,
        digest=Digest(args.digest),
        tsa=TsaClient(tsa_url) if tsa_url else None,
        trust_anchors=load_anchors([*args.trust, *cfg.trust_anchors]),  # roots + intermediates
    )
    pades = PadesOptions(
        reason=args.reason, location=args.location, certify=args.certify, visible=_visible(args.visible)
    )
    pes = PesOptions(bordereaux=args.bordereau or None, whole=args.whole, city=args.city, postal_code=args.postal_code)
    ui = headless_ui(args)
    manager = token_manager(args, cfg)
    executor = TokenExecutor()
    failures = 0
    try:
        entry = await executor.run(None, lambda: select_entry(manager, ui, Role.SIGN, args.key_label))
        datas = [s.read_bytes() for s in sources]
        docs = tuple(
            DocumentInfo(s.name, len(d), hashlib.sha256(d).hexdigest()) for s, d in zip(sources, datas, strict=True)
        )
        decision = await executor.run(None, lambda: ui.confirm(ConsentRequest("cli", OperationKind.SIGN, docs, entry)))
        if not decision.approved:
            raise UserCancelled(_("The operation was refused."))
        token = manager.token_of(entry)
        prompt = BatchPinPrompt(ui.ask_pin)

        async def runner(fn: Any) -> bytes:
            result: bytes = await executor.run(token.info.token_id, fn)
            return result

        key = TokenKey(
            token,
            entry,
            prompt,
            runner=runner,
            scheme=SignScheme.RSA_PSS if args.pss else None,
        )
        dated = datetime.now(UTC) if args.atexo else None
        for source, data in zip(sources, datas, strict=True):
            job = DocumentJob(source.name, data, fmt, guess_mime(source.name), pades, pes)
            try:
                out = await sign_job(job, key, options)
                target = _target(args, source, job, dated)
                naming.atomic_write(target, out, overwrite=False)
                print(_("{name}: signed → {out}").format(name=source.name, out=target))
            except FileExistsError:
                failures += 1
                print(
                    _("{name}: {out} already exists, not replaced.").format(name=source.name, out=target),
                    file=sys.stderr,
                )
            except SceauError as exc:
                failures += 1
                print(
                    _("{name}: error ({code}): {message}").format(
                        name=source.name, code=exc.code.value, message=exc.message
                    ),
                    file=sys.stderr,
                )
        prompt.forget()
    finally:
        manager.close()
        executor.shutdown()
    return ExitCode.ERROR if failures else ExitCode.OK


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("sign", help=_("sign files (CAdES, XAdES, PAdES, PES) with your token"))
    _add_token_options(p)
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--level", default="B-B", choices=LEVELS)
    p.add_argument("--tsa", metavar="URL", help=_("time-stamp server (default: tsa_url from the configuration)"))
    p.add_argument("--digest", default="sha256", choices=[d.value for d in Digest])
    p.add_argument("--pss", action="store_true", help=_("RSA-PSS instead of PKCS#1 v1.5 (RSA keys)"))
    p.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="PEM",
        help=_("CA certificates to complete the chain and for B-LT"),
    )
    p.add_argument(
        "--atexo", action="store_true", help=_("name detached signatures NAME - AAAAMMJJhhmmss - Signature N")
    )
    p.add_argument("--reason", default="", help=_("PAdES: reason shown in the signature"))
    p.add_argument("--location", default="", help=_("PAdES: place of signing"))
    p.add_argument("--visible", metavar="PAGE[:x1,y1,x2,y2]", help=_("PAdES: visible signature box"))
    p.add_argument("--certify", action="store_true", help=_("PAdES: certification signature"))
    p.add_argument("--bordereau", action="append", default=[], metavar="ID", help=_("PES: Bordereau Id to sign"))
    p.add_argument("--whole", action="store_true", help=_("PES: sign the whole PES_Aller (second signer)"))
    p.add_argument("--city", default="", help=_("PES: place of signing (city)"))
    p.add_argument("--postal-code", default="", help=_("PES: postal code"))
    p.add_argument("-o", "--output", metavar="OUT", help=_("output file, or folder for several files"))
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_sign)
