"""`sceau certs`, `sceau doctor`, `sceau auth-token`, `sceau validate-token`: the tokens and what they prove."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sceau.cli.common import add_token_options, headless_ui, load_config, select_entry, token_manager
from sceau.i18n import _
from sceau.protocol.codes import Role
from sceau.protocol.constants import ExitCode


def cmd_certs(args: argparse.Namespace) -> int:
    manager = token_manager(args)
    ui = headless_ui(args)
    role = Role(args.role) if args.role else None
    entries = manager.require_entries(role, prompt=ui.ask_pin if (args.pin_env or args.password_env) else None)
    if args.json:
        print(json.dumps([e.summary() for e in entries], indent=2, ensure_ascii=False))
        return ExitCode.OK
    for e in entries:
        roles = ", ".join(sorted(r.value for r in e.roles))
        state = _("valid") if e.is_valid_at() else _("EXPIRED or not yet valid")
        print(f"{e.label}  [{roles}]  {e.key_type.upper()}-{e.key_size}  {state}")
        print(f"    {_('holder')}: {e.certificate.subject.rfc4514_string()}")
        print(f"    {_('issuer')}: {e.issuer_cn}   {_('expires')}: {e.certificate.not_valid_after_utc:%Y-%m-%d}")
        print(f"    {_('token')}: {e.token.label}   id: {e.handle}")
    return ExitCode.OK


def cmd_auth_token(args: argparse.Namespace) -> int:
    from sceau.operations.authenticate import build_token, check_nonce
    from sceau.protocol.codes import OperationKind
    from sceau.protocol.origin import normalize_origin
    from sceau.ui.api import ConsentRequest

    cfg = load_config(args)
    origin = normalize_origin(args.origin, dev_mode=cfg.dev_mode or args.dev)
    check_nonce({"nonce": args.nonce}, cfg.limits)
    manager = token_manager(args, cfg)
    ui = headless_ui(args)
    entry = select_entry(manager, ui, Role.AUTH, args.key_label)
    decision = ui.confirm(ConsentRequest(origin, OperationKind.AUTHENTICATE, certificate=entry))
    if not decision.approved:
        return ExitCode.ERROR
    token = manager.token_of(entry)
    auth = build_token(
        lambda data, scheme, digest: token.sign_raw(entry, data, scheme, digest, prehashed=False, prompt=ui.ask_pin),
        entry,
        origin,
        args.nonce,
        args.algorithm,
    )
    print(json.dumps(auth.to_json(), indent=2))
    return ExitCode.OK


def cmd_validate_token(args: argparse.Namespace) -> int:
    from cryptography import x509

    from sceau.tokens.pkcs12 import load_certificate
    from sceau_rp import AuthTokenError, AuthTokenValidator, NonceStore

    anchors = [load_certificate(p) for p in args.trust]
    inter = [c for p in args.intermediate for c in x509.load_pem_x509_certificates(Path(p).read_bytes())]
    crls = [x509.load_pem_x509_crl(Path(p).read_bytes()) for p in args.crl]
    nonces = NonceStore()
    # Debugging aid: the CLI did not issue the nonce, so it registers it as issued just now.
    nonces._issued[args.nonce] = float("inf")
    validator = AuthTokenValidator(
        args.origin, anchors, intermediates=inter, nonces=nonces, crls=crls, allow_http_localhost=args.dev
    )
    try:
        data = json.loads(Path(args.token).read_text() if args.token != "-" else sys.stdin.read())
        user = validator.validate(data, args.nonce)
    except (AuthTokenError, json.JSONDecodeError, OSError) as exc:
        reason = getattr(exc, "reason", "format")
        print(_("Token invalid ({reason}): {message}").format(reason=reason, message=exc), file=sys.stderr)
        return ExitCode.INVALID
    print(
        _("Token valid: {cn} ({org}, {oi}), algorithm {alg}").format(
            cn=user.common_name, org=user.organization, oi=user.organization_identifier, alg=user.algorithm
        )
    )
    return ExitCode.OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from sceau.system.doctor import run_doctor

    return run_doctor(args)


def register(sub: Any) -> None:
    p = sub.add_parser("certs", help=_("list the certificates on your tokens"))
    add_token_options(p)
    p.add_argument("--role", choices=[r.value for r in Role])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_certs)

    p = sub.add_parser("doctor", help=_("check modules, readers and tokens; say what is missing"))
    p.add_argument("--config", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("auth-token", help=_("make a Web eID authentication token (debugging)"))
    add_token_options(p)
    p.add_argument("--origin", required=True)
    p.add_argument("--nonce", required=True, help=_("challenge nonce, base64 (at least 32 bytes)"))
    p.add_argument("--algorithm", choices=["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"])
    p.add_argument("--dev", action="store_true", help=_("allow http://localhost origins"))
    p.set_defaults(func=cmd_auth_token)

    p = sub.add_parser("validate-token", help=_("validate a Web eID authentication token (debugging)"))
    p.add_argument("token", help=_("token JSON file, or - for standard input"))
    p.add_argument("--origin", required=True)
    p.add_argument("--nonce", required=True)
    p.add_argument("--trust", action="append", required=True, metavar="CA.pem")
    p.add_argument("--intermediate", action="append", default=[], metavar="PEM")
    p.add_argument("--crl", action="append", default=[], metavar="CRL.pem")
    p.add_argument("--dev", action="store_true")
    p.set_defaults(func=cmd_validate_token)
