"""`sceau encrypt --to CERT.pem [--to ...] -o OUT.p7m FILE` — encrypt a bid to the buyer's certificates."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from sceau.cli_common import EXIT_OK
from sceau.crypto.atomic import AtomicOutput
from sceau.crypto.cms_encrypt import ENCRYPT_CIPHERS, RSA_PADDINGS, EncryptOptions, encrypt_stream
from sceau.errors import BadRequest
from sceau.i18n import _
from sceau.tokens.pkcs12 import load_certificate


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
    return EXIT_OK


def register(subparsers: Any) -> None:
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
