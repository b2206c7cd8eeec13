"""`sceau demo`: a demo token (SoftHSM2, throw-away PKI) and an authentication round trip.

When the demo platform (examples/) is present, `sceau demo --serve` also starts the agent and
the platform so the whole flow can be tried in a browser.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from sceau.config import Config
from sceau.devkit import pki as devpki
from sceau.devkit import softhsm
from sceau.i18n import _


def demo_dir(cfg: Config) -> Path:
    return cfg.data_path() / "demo"


def ensure_demo_token(root: Path) -> devpki.DevPki:
    """Create (once) the demo PKI and SoftHSM2 token, and point SOFTHSM2_CONF at it."""
    if (root / "manifest.json").is_file() and (root / "softhsm" / "softhsm2.conf").is_file():
        pki = devpki.DevPki.load(root)
    else:
        print(_("Creating the demo token in {path}…").format(path=root))
        pki = devpki.generate(root)
        softhsm.create_token(pki)
    os.environ["SOFTHSM2_CONF"] = str(pki.softhsm_conf)
    return pki


async def _round_trip(pki: devpki.DevPki, origin: str) -> int:
    from cryptography import x509

    from sceau.app import Agent
    from sceau.tokens.pkcs11 import Pkcs11Backend
    from sceau.tokens.registry import TokenManager
    from sceau.ui.headless import HeadlessUI
    from sceau_rp import AuthTokenValidator, NonceStore

    module = softhsm.find_module()
    assert module is not None
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True)
    agent = Agent(Config(dev_mode=True), TokenManager([Pkcs11Backend([module])], token_label=softhsm.TOKEN_LABEL), ui)
    try:
        listed = await agent.handle(
            {"v": 1, "id": str(uuid.uuid4()), "cmd": "list-certificates", "args": {"role": "auth"}, "origin": origin}
        )
        if not listed["ok"]:
            print(listed["error"])
            return 1
        print(_("Authentication certificates on the demo token:"))
        for c in listed["result"]["certificates"]:
            print(f"  - {c['commonName']} ({c['organization']}), {c['keyType'].upper()}-{c['keySize']}, id {c['id']}")
        nonces = NonceStore()
        nonce = nonces.issue()
        chosen = next(c for c in listed["result"]["certificates"] if c["valid"])
        print(_("The platform {origin} issues the challenge {nonce}").format(origin=origin, nonce=nonce))
        resp = await agent.handle(
            {
                "v": 1,
                "id": str(uuid.uuid4()),
                "cmd": "authenticate",
                "args": {"nonce": nonce, "certificate": chosen["id"]},
                "origin": origin,
            }
        )
        if not resp["ok"]:
            print(resp["error"])
            return 1
        token = resp["result"]
        print(_("Token {fmt} signed with {alg} by the token.").format(fmt=token["format"], alg=token["algorithm"]))
        anchors = [x509.load_pem_x509_certificate(pki.root_ca.read_bytes())]
        inter = [x509.load_pem_x509_certificate(pki.intermediate_ca.read_bytes())]
        validator = AuthTokenValidator(origin, anchors, intermediates=inter, nonces=nonces)
        user = validator.validate(token, nonce)
        print(
            _("The platform validated the token: {cn} ({org}, {oi}).").format(
                cn=user.common_name, org=user.organization, oi=user.organization_identifier
            )
        )
        return 0
    finally:
        agent.close()


def cmd_demo(args: argparse.Namespace) -> int:
    from sceau import config as config_mod

    cfg = config_mod.load(getattr(args, "config", None))
    pki = ensure_demo_token(Path(args.dir) if args.dir else demo_dir(cfg))
    print(
        _("Demo token: label '{label}', PIN {pin} (demo only).").format(label=softhsm.TOKEN_LABEL, pin=softhsm.USER_PIN)
    )
    code = asyncio.run(_round_trip(pki, args.origin))
    if code or not args.serve:
        return code
    return _serve_platform(pki, args)


def _serve_platform(pki: devpki.DevPki, args: argparse.Namespace) -> int:
    """Run the demo platform (examples/, in a source checkout) as its own process, like a hosted site."""
    from sceau.devkit.bridge import REPO

    if not (REPO / "examples" / "platform" / "__main__.py").is_file():
        print(_("The demo platform is not available in this installation."))
        return 0
    flags = [
        f
        for f, on in (("--walkthrough", args.walkthrough), ("--no-browser", args.no_browser), ("--https", args.https))
        if on
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.platform", str(pki.root), "--port", str(args.port), *flags], cwd=REPO
    )
    signal.signal(signal.SIGTERM, lambda _sig, _frame: proc.terminate())  # `kill` stops the platform cleanly
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:  # the platform got the same Ctrl-C and is stopping
            continue


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help=_("demo token and authentication round trip (and the demo platform)"))
    p.add_argument("--dir", help=_("where to keep the demo token (default: data dir)"))
    p.add_argument("--origin", default="https://marches.demo.sceau.test")
    p.add_argument("--serve", action="store_true", help=_("also run the agent and the demo platform"))
    p.add_argument("--port", type=int, default=8080, help=_("port of the demo platform on http://localhost"))
    p.add_argument(
        "--walkthrough",
        action="store_true",
        help=_("with --serve: run the scripted walkthrough in Chromium (always done without a display)"),
    )
    p.add_argument("--no-browser", action="store_true", help=_("with --serve: do not open a browser"))
    p.add_argument(
        "--https", action="store_true", help=_("with --serve: https with a localhost certificate from the demo PKI")
    )
    p.add_argument("--config", type=Path)
    p.set_defaults(func=cmd_demo)
