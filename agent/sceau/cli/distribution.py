"""`sceau provision-extension`: the browser policies that install the packaged extension (installers)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sceau.i18n import _
from sceau.protocol.constants import ExitCode

DEFAULT_DIR = Path("/usr/share/sceau/extension")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "provision-extension",
        help=_("install the packaged extension for every user through browser policies (administrators)"),
    )
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=_("folder of the packaged CRX, XPI and ids"))
    p.add_argument("--root", type=Path, default=Path("/"), help=_("file-system root (packaging, tests)"))
    p.add_argument("--no-firefox", action="store_true", help=_("leave Firefox's policies.json alone"))
    p.add_argument("--remove", action="store_true", help=_("take back the policies written before"))
    p.set_defaults(func=run_provision)


def run_provision(args: argparse.Namespace) -> int:
    from sceau.system import provisioning

    try:
        if args.remove:
            files = provisioning.unprovision(root=args.root)
        else:
            files = provisioning.provision(provisioning.Packaged(args.dir), root=args.root, firefox=not args.no_firefox)
    except PermissionError as exc:
        print(_("sceau: permission denied ({err}); run as administrator.").format(err=exc), file=sys.stderr)
        return ExitCode.ERROR
    for path in files:
        print(path)
    return ExitCode.OK
