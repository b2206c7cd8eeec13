"""Shared CLI plumbing: token options (DESIGN.md §5), the headless UI, error printing.

Subcommand modules (`cli_<name>.py`) expose `register(subparsers)` and use these helpers so every
command takes the same token options and reports errors the same way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from sceau import config as config_mod
from sceau.config import Config
from sceau.errors import NoCertificate, SceauError
from sceau.i18n import _
from sceau.protocol.codes import Role
from sceau.protocol.constants import ExitCode
from sceau.tokens.base import CertificateEntry, PinRequest, TokenBackend
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.pkcs12 import Pkcs12Backend
from sceau.tokens.registry import TokenManager
from sceau.ui.api import CertificateChoice, ConsentDecision, ConsentRequest, UserInterface
from sceau.ui.headless import HeadlessUI


def add_token_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(_("token options"))
    g.add_argument(
        "--pkcs11-module",
        action="append",
        default=[],
        metavar="SO",
        help=_("PKCS#11 module to use (default: configured and discovered modules)"),
    )
    g.add_argument("--token-label", metavar="LABEL", help=_("use only the token with this label"))
    g.add_argument("--pin-env", metavar="VAR", help=_("environment variable holding the PIN (never a default PIN)"))
    g.add_argument("--pkcs12", action="append", default=[], metavar="FILE", help=_("PKCS#12 file (.p12/.pfx)"))
    g.add_argument("--password-env", metavar="VAR", help=_("environment variable holding the PKCS#12 password"))
    g.add_argument("--key-label", metavar="L", help=_("certificate/key label to use"))
    g.add_argument("--yes", "-y", action="store_true", help=_("approve the operation without asking"))
    g.add_argument("--config", type=Path, metavar="FILE", help=_("configuration file"))


def load_config(args: argparse.Namespace) -> Config:
    cfg = config_mod.load(getattr(args, "config", None))
    return cfg


def token_manager(args: argparse.Namespace, cfg: Config | None = None) -> TokenManager:
    """Tokens selected by the command line: explicit modules/files, else configuration + discovery."""
    cfg = cfg or load_config(args)
    modules: list[str] = list(args.pkcs11_module)
    files = [Path(p) for p in args.pkcs12]
    if not modules and not files:
        from sceau.app import build_token_manager

        manager = build_token_manager(cfg)
        manager.token_label = args.token_label
        return manager
    passwords: dict[Path, str] = {}
    if files and args.password_env:
        import os

        pw = os.environ.get(args.password_env)
        if pw is not None:
            passwords = {f: pw for f in files}
    backends: list[TokenBackend] = []
    if modules:
        backends.append(Pkcs11Backend(modules, isolate=cfg.isolate_modules))
    if files:
        backends.append(Pkcs12Backend(files, passwords))
    return TokenManager(backends, token_label=args.token_label)


class _CliUI(UserInterface):
    """The terminal UI for PINs and questions, with --yes and --key-label applied first."""

    def __init__(self, base: UserInterface, approve: bool, chooser: Callable[[CertificateChoice], CertificateEntry]):
        self._base = base
        self._approve = approve
        self._chooser = chooser

    def confirm(self, request: ConsentRequest) -> ConsentDecision:
        return ConsentDecision(approved=True) if self._approve else self._base.confirm(request)

    def ask_pin(self, request: PinRequest) -> str:
        return self._base.ask_pin(request)

    def choose_certificate(self, choice: CertificateChoice) -> CertificateEntry:
        return self._chooser(choice)


def headless_ui(args: argparse.Namespace) -> UserInterface:
    """PIN/password from the named environment variable and approval by --yes; with neither a PIN
    variable nor a password variable, and a terminal attached, questions are asked on the terminal."""
    pin_env = args.pin_env or args.password_env
    key_label = getattr(args, "key_label", None)

    def choose(choice: CertificateChoice) -> CertificateEntry:
        if key_label:
            for c in choice.candidates:
                if c.label == key_label:
                    return c
            raise NoCertificate(_("No certificate with label {label}.").format(label=key_label))
        return HeadlessUI().choose_certificate(choice)

    if not pin_env and sys.stdin.isatty():
        from sceau.ui.terminal import TerminalUI

        return _CliUI(TerminalUI(), args.yes, choose)
    return HeadlessUI(pin_env=pin_env, approve=args.yes, chooser=choose)


def select_entry(
    manager: TokenManager, ui: UserInterface, role: Role | None, key_label: str | None
) -> CertificateEntry:
    entries = manager.require_entries(role, prompt=ui.ask_pin)
    if key_label:
        entries = [e for e in entries if e.label == key_label]
        if not entries:
            raise NoCertificate(_("No certificate with label {label}.").format(label=key_label))
    if len(entries) == 1:
        return entries[0]
    from sceau.protocol.codes import OperationKind

    return ui.choose_certificate(CertificateChoice("cli", OperationKind.SIGN, tuple(entries)))


def fail(exc: SceauError) -> int:
    """Print an error the way every subcommand does, return the exit code."""
    print(_("sceau: error ({code}): {message}").format(code=exc.code.value, message=exc.message), file=sys.stderr)
    return ExitCode.ERROR
