"""`sceau sign --format {cades,xades,pades,pes} [--level ...] [--tsa URL] [TOKEN OPTIONS] -o OUT FILE...`

Same engine as the agent's `sign-documents`: one consent (--yes), one PIN for all files.
Detached formats write `NAME - Signature N.p7s|.xml` (first free N) into OUT when OUT is a
folder (or next to each file without -o); PAdES / PES write the signed file. Outputs are
written atomically and never replace an existing file.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sceau.cli.common import add_token_options as _add_token_options
from sceau.cli.common import headless_ui, load_config, select_entry, token_manager
from sceau.errors import BadRequest, InvalidInput
from sceau.i18n import _
from sceau.operations.context import OperationContext
from sceau.protocol.codes import Role
from sceau.protocol.constants import ExitCode
from sceau.tokens.base import SIGNING_DIGESTS, Digest, SignScheme
from sceau.tokens.executor import TokenExecutor

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
    from sceau.formats.batch import BatchDocument, DocumentResult, sign_batch
    from sceau.formats.engine import guess_mime
    from sceau.formats.kinds import Format, Level
    from sceau.formats.ltv import load_anchors
    from sceau.formats.options import SignOptions
    from sceau.formats.pades import PadesOptions
    from sceau.formats.pes import PesOptions
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
    ctx = OperationContext(origin="cli", ui=ui, tokens=manager, config=cfg, executor=executor)
    dated = datetime.now(UTC) if args.atexo else None

    async def publish(doc: BatchDocument, job: DocumentJob, out: bytes) -> dict[str, Any]:
        target = _target(args, doc.path, job, dated)  # doc.path: the user's file
        try:
            await ctx.blocking(lambda: naming.atomic_write(target, out, overwrite=False))
        except FileExistsError:
            raise InvalidInput(_("{out} already exists, not replaced.").format(out=target)) from None
        return {"path": str(target)}

    async def report(result: DocumentResult) -> None:
        if result.error is None and result.output is not None:
            print(_("{name}: signed → {out}").format(name=result.document.name, out=result.output["path"]))
            return
        assert result.error is not None
        print(
            _("{name}: error ({code}): {message}").format(
                name=result.document.name, code=result.error.code.value, message=result.error.message
            ),
            file=sys.stderr,
        )

    try:
        # The certificate the command line names (--key-label), else the user's pick; then one consent.
        entry = await ctx.blocking(lambda: select_entry(manager, ui, Role.SIGN, args.key_label))
        digests = await ctx.blocking(lambda: [Digest.SHA256.digest_file(s).hex() for s in sources])
        documents = [
            BatchDocument(s.name, s, s.stat().st_size, d, fmt, guess_mime(s.name), pades, pes)
            for s, d in zip(sources, digests, strict=True)
        ]
        outcome = await sign_batch(
            ctx,
            documents,
            options,
            publish,
            certificate=entry.handle,
            scheme=SignScheme.RSA_PSS if args.pss else None,
            on_result=report,
        )
    finally:
        manager.close()
        executor.shutdown()
    return ExitCode.OK if outcome.signed == len(outcome.results) else ExitCode.ERROR


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("sign", help=_("sign files (CAdES, XAdES, PAdES, PES) with your token"))
    _add_token_options(p)
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--level", default="B-B", choices=LEVELS)
    p.add_argument("--tsa", metavar="URL", help=_("time-stamp server (default: tsa_url from the configuration)"))
    p.add_argument("--digest", default="sha256", choices=[d.value for d in SIGNING_DIGESTS])
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
