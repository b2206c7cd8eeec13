"""`sceau encrypt` and `sceau decrypt`: bids as CMS EnvelopedData (same engine as the agent).

sceau encrypt --to CERT.pem [--to ...] -o OUT.p7m FILE   encrypt to the buyer's certificates
sceau decrypt [TOKEN OPTIONS] -o OUT FILE.p7m             open with a key on a token
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

# Only what `sceau encrypt` needs at import time: scripts run it per file, and the token stack
# (pkcs11, asyncio, the UI) would double its start-up. `sceau decrypt` imports the rest when run.
from sceau.crypto.certfile import load_certificate
from sceau.crypto.cms_encrypt import ENCRYPT_CIPHERS, RSA_PADDINGS, EncryptOptions, encrypt_stream
from sceau.errors import BadRequest
from sceau.i18n import _
from sceau.protocol.constants import ExitCode
from sceau.store.files import AtomicOutput


def cmd_encrypt(args: argparse.Namespace) -> int:
    certs = [load_certificate(Path(p)) for p in args.to]
    output = Path(args.output)
    if output.exists() and not args.force:
        raise BadRequest(_("{path} exists (use --force to replace it).").format(path=output))
    options = EncryptOptions(args.cipher, args.rsa_padding)
    with AtomicOutput(output) as out:
        if args.file == "-":  # unknown size: indefinite-length BER
            result = encrypt_stream(sys.stdin.buffer, out.file, certs, size=None, options=options)
        else:
            with open(args.file, "rb") as src:
                result = encrypt_stream(src, out.file, certs, size=os.fstat(src.fileno()).st_size, options=options)
        out.commit()
    print(
        _("Encrypted {size} bytes ({alg}) for {n} recipient(s) into {out}").format(
            size=result.plaintext_size, alg=result.algorithm, n=result.recipients, out=output
        ),
        file=sys.stderr,
    )
    return ExitCode.OK


def register_encrypt(subparsers: Any) -> None:
    """Only `encrypt` (the CLI's light start-up path for it, see sceau.cli.LIGHT_COMMANDS)."""
    p = subparsers.add_parser("encrypt", help=_("encrypt a file to recipient certificates (CMS EnvelopedData)"))
    p.add_argument(
        "--to",
        action="append",
        required=True,
        metavar="CERT.pem",
        help=_("recipient certificate (repeat for the backup key)"),
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT.p7m")
    p.add_argument(
        "--cipher",
        choices=ENCRYPT_CIPHERS,
        default="aes-256-cbc",
        help=_("content cipher (aes-256-gcm gives AuthEnvelopedData)"),
    )
    p.add_argument(
        "--rsa-padding",
        choices=RSA_PADDINGS,
        default="pkcs1v15",
        help=_("RSA key transport padding (default PKCS#1 v1.5: every token can open it)"),
    )
    p.add_argument("--force", action="store_true", help=_("replace the output file if it exists"))
    p.add_argument("file", metavar="FILE", help=_("file to encrypt, or - for standard input"))
    p.set_defaults(func=cmd_encrypt)


def _print_report(report: dict[str, Any]) -> None:
    cert = report["certificate"]
    if "key" in report:
        print(_("Content-encryption key ({alg}): {key}").format(alg=report["algorithm"], key=report["key"]))
        print(_("IV / nonce: {iv}").format(iv=report["iv"]))
    else:
        print(
            _("Decrypted {size} bytes ({alg}) into {out}").format(
                size=report["size"], alg=report["algorithm"], out=report["output"]
            )
        )
    print(
        _("Opened with the certificate of {cn} ({issuer}, serial {serial}) on {token}").format(
            cn=cert["commonName"], issuer=cert["issuerCommonName"], serial=cert["serialNumber"], token=cert["token"]
        )
    )
    signed = report.get("signed")
    if signed:
        print(_("Signed bid: signature verified.") if signed.get("verified") else signed.get("message", ""))
    z = report.get("zip")
    if z and "entries" in z:
        print(_("Zip archive: {n} entries, {size} bytes uncompressed").format(n=z["count"], size=z["totalSize"]))
        for e in z["entries"]:
            print(f"    {e['size']:>12}  {e['name']}")
        for w in z["warnings"]:
            print(_("    WARNING {reason}: {name}").format(reason=w["reason"], name=w["name"]))
    elif z:
        print(z.get("error", ""))


async def cmd_decrypt(args: argparse.Namespace) -> int:
    source = Path(args.file)
    if not source.is_file():
        raise BadRequest(_("File not found: {path}").format(path=source))
    output: Path | None = Path(args.output) if args.output else None
    if not args.unwrap_key:
        if output is None:
            raise BadRequest(_("Give the output file with -o."))
        if output.exists() and not args.force:
            raise BadRequest(_("{path} exists (use --force to replace it).").format(path=output))
    from sceau.cli.common import headless_ui, load_config, token_manager
    from sceau.operations.context import OperationContext
    from sceau.operations.decrypt import DecryptJob, decrypt_file
    from sceau.tokens.base import Digest
    from sceau.tokens.executor import TokenExecutor

    cfg = load_config(args)
    executor = TokenExecutor()
    manager = token_manager(args, cfg)
    try:
        ctx = OperationContext(origin="cli", ui=headless_ui(args), tokens=manager, config=cfg, executor=executor)
        job = DecryptJob(
            source,
            source.name,
            source.stat().st_size,
            await ctx.blocking(lambda: Digest.SHA256.digest_file(source).hex()),
            output=None if args.unwrap_key else output,
            unwrap_key=args.unwrap_key,
            extract_to=Path(args.extract) if args.extract else None,
        )
        report = await decrypt_file(ctx, job)
    finally:
        manager.close()
        executor.shutdown()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print_report(report)
    return ExitCode.OK


def _register_decrypt(subparsers: Any) -> None:
    from sceau.cli.common import add_token_options

    p = subparsers.add_parser("decrypt", help=_("decrypt a bid (CMS EnvelopedData) with a key on your token"))
    add_token_options(p)
    p.add_argument("-o", "--output", metavar="OUT", help=_("plaintext output file"))
    p.add_argument("--force", action="store_true", help=_("replace the output file if it exists"))
    p.add_argument(
        "--extract", metavar="DIR", help=_("if the bid is a zip archive, extract it into this new directory")
    )
    p.add_argument("--unwrap-key", action="store_true", help=_("print only the content-encryption key"))
    p.add_argument("--json", action="store_true", help=_("print the report as JSON"))
    p.add_argument("file", metavar="FILE.p7m")
    p.set_defaults(func=cmd_decrypt)


def register(subparsers: Any) -> None:
    register_encrypt(subparsers)
    _register_decrypt(subparsers)
