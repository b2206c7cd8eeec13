"""`sceau` command line (DESIGN.md §5): same engine as the agent, for scripting, tests and power users."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Coroutine

from sceau import __version__, i18n
from sceau.errors import BadRequest, SceauError
from sceau.i18n import _
from sceau.protocol.constants import ExitCode

# Subcommand modules contributed by each area; missing ones are skipped (lighter builds).
SUBCOMMAND_MODULES = (
    "sceau.cli.tokens",  # certs, doctor, auth-token, validate-token
    "sceau.cli.agent",  # agent, install-manifests
    "sceau.cli.sign",
    "sceau.cli.verify",
    "sceau.cli.trust",  # trust refresh / status (EU trusted lists)
    "sceau.cli.extend",  # extend --level B-LTA
    "sceau.cli.crypt",  # encrypt, decrypt
    "sceau.cli.demo",
    "sceau.cli.browsers",  # enable-tls-login, disable-tls-login, tls-policy
    "sceau.cli.distribution",  # provision-extension (installers)
)
# Commands run once per file by scripts, whose start-up is part of their cost: only their own
# module is imported (the others pull in the token stack, asyncio, the UI…), `register_<name>`.
LIGHT_COMMANDS = {"encrypt": "sceau.cli.crypt"}


def _command_of(argv: list[str]) -> str | None:
    """The subcommand named in `argv` (after the global options), or None."""
    i = 0
    while i < len(argv):
        if argv[i] == "--lang":
            i += 2
        elif argv[i] in ("-v", "--verbose"):
            i += 1
        else:
            return None if argv[i].startswith("-") else argv[i]
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; `only`: just that light command (LIGHT_COMMANDS)."""
    parser = argparse.ArgumentParser(prog="sceau", description=_("Sceau: your certificates for web platforms."))
    parser.add_argument("--version", action="version", version=f"sceau {__version__}")
    parser.add_argument("--lang", choices=i18n.SUPPORTED, help=_("language of messages (default: system, French)"))
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    if only is not None:
        getattr(importlib.import_module(LIGHT_COMMANDS[only]), f"register_{only}")(sub)
        return parser
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --lang must apply before the parser's help texts are built.
    if "--lang" in argv[:-1]:
        lang = argv[argv.index("--lang") + 1]
        if lang in i18n.SUPPORTED:
            i18n.set_language(lang)
    command = _command_of(argv)
    parser = build_parser(command if command in LIGHT_COMMANDS else None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR, format="%(levelname)s %(message)s")
    try:
        result = args.func(args)
        if isinstance(result, Coroutine):
            import asyncio  # only for the commands that need it (start-up time)

            result = asyncio.run(result)
        return int(result)
    except SceauError as exc:
        from sceau.cli.common import fail

        return fail(exc)
    except RecursionError:  # a pathological input parsed in-process: the file's fault, not a crash
        from sceau.cli.common import fail
        from sceau.errors import InvalidInput
        from sceau.formats.worker import TOO_DEEP

        return fail(InvalidInput(_(TOO_DEEP)))
    except KeyboardInterrupt:
        return ExitCode.ERROR
    except BrokenPipeError:  # output piped into `head`
        return ExitCode.OK
    except OSError as exc:
        from sceau.cli.common import fail

        return fail(BadRequest(_("File error: {err}").format(err=exc.strerror or exc)))


if __name__ == "__main__":
    sys.exit(main())
