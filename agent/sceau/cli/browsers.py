"""`sceau browsers enable-tls-login | disable-tls-login | tls-policy`: certificate login in the
browsers' own TLS stack (docs/tls-login.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sceau.cli.common import load_config
from sceau.errors import BadRequest
from sceau.i18n import _
from sceau.protocol.constants import ExitCode
from sceau.system import firefox_policy, tls_login, tls_policy
from sceau.system.nssdb import NssToolsMissing, tools_hint
from sceau.system.tls_login import Browser, Outcome


def _browsers(args: argparse.Namespace) -> list[Browser]:
    return [Browser(b) for b in args.browser] if args.browser else list(Browser)


def _report(outcomes: list[Outcome]) -> int:
    if not outcomes:
        print(_("No browser database found (start the browser once, then run this command again)."))
    for o in outcomes:
        print(f"{'✔' if o.status.ok else '✘'} {o.label}: {o.message}")
    return ExitCode.OK if all(o.status.ok for o in outcomes) else ExitCode.ERROR


def _other_os_notice() -> bool:
    from sceau.system.middleware import detect

    found = detect()
    if found is None:
        return False
    if found.present:
        print(_("The system certificate store serves TLS login here ({kind}):").format(kind=found.kind))
        for item in found.items:
            print(f"    - {item}")
    else:
        print(
            _(
                "No {kind} found: install your token vendor's middleware, "
                "which makes the certificate visible to the browsers."
            ).format(kind=found.kind)
        )
    return True


def _policy_path(args: argparse.Namespace) -> Path | None:
    if args.firefox_policies:
        return Path(args.firefox_policies)
    if args.system:
        return firefox_policy.DEFAULT_FIREFOX_POLICIES
    return None


def cmd_enable(args: argparse.Namespace) -> int:
    import shutil

    if _other_os_notice() and not args.firefox_policies:
        return ExitCode.OK
    if not args.system and shutil.which("modutil") is None:
        raise NssToolsMissing(tools_hint())  # before anything is written
    cfg = load_config(args)
    modules = tls_login.choose_modules(args.module, cfg.pkcs11_modules)
    outcomes: list[Outcome] = []
    policy = _policy_path(args)
    if policy is not None and Browser.FIREFOX in _browsers(args):
        outcomes.append(firefox_policy.enable_firefox_policy(policy, modules))
    if not args.system:
        outcomes += [tls_login.enable_target(t, modules) for t in tls_login.targets(browsers=_browsers(args))]
    return _report(outcomes)


def cmd_disable(args: argparse.Namespace) -> int:
    import shutil

    if _other_os_notice() and not args.firefox_policies:
        return ExitCode.OK
    if not args.system and shutil.which("modutil") is None:
        raise NssToolsMissing(tools_hint())  # before anything is written
    outcomes: list[Outcome] = []
    policy = _policy_path(args)
    if policy is not None and Browser.FIREFOX in _browsers(args):
        outcomes.append(firefox_policy.disable_firefox_policy(policy, forget=args.forget))
    if not args.system:
        outcomes += [tls_login.disable_target(t) for t in tls_login.targets(browsers=_browsers(args))]
    return _report(outcomes)


def cmd_tls_policy(args: argparse.Namespace) -> int:
    browser = tls_policy.PolicyBrowser(args.browser)
    if browser is tls_policy.PolicyBrowser.FIREFOX:
        data: Any = tls_policy.firefox_policy()
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        where = f"{tls_policy.LINUX_POLICY_DIRS[browser]}/policies.json"
    else:
        if not args.url:
            raise BadRequest(_("--url is required"))
        rules = [
            tls_policy.AutoSelectRule(
                tls_policy.url_pattern(u, subdomains=args.subdomains), args.issuer_cn, args.subject_cn
            )
            for u in args.url
        ]
        if args.format == "reg":
            text = tls_policy.windows_reg(browser, rules)
            where = tls_policy.WINDOWS_KEYS[browser]
        else:
            text = json.dumps(tls_policy.chromium_policy(rules), indent=2, ensure_ascii=False) + "\n"
            where = f"{tls_policy.LINUX_POLICY_DIRS[browser]}/sceau-tls-login.json"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8", newline="")
        print(_("Written to {path}; deploy it as {where}").format(path=args.output, where=where), file=sys.stderr)
    else:
        sys.stdout.write(text)
    return ExitCode.OK


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--browser", action="append", choices=[b.value for b in Browser], help=_("only this browser (repeatable)")
    )
    p.add_argument(
        "--system",
        action="store_true",
        help=_("system-wide settings only (Firefox policy in {path}; run as root)").format(
            path=firefox_policy.DEFAULT_FIREFOX_POLICIES
        ),
    )
    p.add_argument("--firefox-policies", metavar="FILE", help=_("Firefox policies.json to edit"))
    p.add_argument("--config", type=Path, metavar="FILE", help=_("configuration file"))


def register(sub: Any) -> None:
    p = sub.add_parser("browsers", help=_("certificate login in the browsers (TLS client certificates)"))
    inner = p.add_subparsers(dest="browsers_command", required=True, metavar="ACTION")

    q = inner.add_parser("enable-tls-login", help=_("make the token visible to the browsers' TLS login"))
    _common(q)
    q.add_argument("--module", metavar="SO", help=_("PKCS#11 module to register (default: the one found)"))
    q.set_defaults(func=cmd_enable)

    q = inner.add_parser("disable-tls-login", help=_("remove what enable-tls-login added"))
    _common(q)
    q.add_argument(
        "--forget",
        action="store_true",
        help=_("leave no Sceau entry in the Firefox policy, not even the removal list (package removal)"),
    )
    q.set_defaults(func=cmd_disable)

    q = inner.add_parser("tls-policy", help=_("certificate auto-selection policy for IT departments"))
    q.add_argument("--browser", choices=[b.value for b in tls_policy.PolicyBrowser], default="chrome")
    q.add_argument("--url", action="append", default=[], help=_("platform address, e.g. https://www.s2low.org"))
    q.add_argument("--subdomains", action="store_true", help=_("also its subdomains"))
    q.add_argument("--issuer-cn", help=_("only certificates from this issuing CA (common name)"))
    q.add_argument("--subject-cn", help=_("only the certificate with this holder name"))
    q.add_argument("--format", choices=["json", "reg"], default="json", help=_("json (Linux) or reg (Windows)"))
    q.add_argument("-o", "--output", metavar="FILE")
    q.set_defaults(func=cmd_tls_policy)
