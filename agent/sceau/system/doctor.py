"""`sceau doctor`: what Sceau finds on this machine, what is missing, and how to fix it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sceau import config as config_mod
from sceau.errors import SceauError
from sceau.i18n import _
from sceau.protocol.constants import HOST_NAME
from sceau.tokens.discovery import Origin, missing_hint, module_sources, p11kit_list_modules


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    items: list[str] = field(default_factory=list)


def _config_check(path: Path | None) -> tuple[Check, config_mod.Config]:
    p = path or config_mod.default_config_path()
    try:
        cfg = config_mod.load(p)
    except SceauError as exc:
        return Check(
            _("Configuration"), False, exc.message, _("Fix or remove {path}.").format(path=p)
        ), config_mod.Config()
    detail = str(p) if p.is_file() else _("{path} (absent: defaults in use)").format(path=p)
    return Check(_("Configuration"), True, detail), cfg


def _module_checks(cfg: config_mod.Config) -> list[Check]:
    from sceau.tokens.pkcs11 import Pkcs11Backend

    sources = module_sources(cfg.pkcs11_modules, discovery=not cfg.disable_module_discovery)
    if not sources:
        return [Check(_("PKCS#11 modules"), False, _("no token middleware found"), missing_hint())]
    checks = []
    listed = p11kit_list_modules() if any(m.origin == Origin.P11KIT for m in sources) else None
    for module in sources:
        path, vendor = module.path, module.vendor
        origin = _origin_text(module.origin, module.detail)
        names = {os.path.basename(p) for p in (listed or {}).values()}
        if module.origin == Origin.P11KIT and listed is not None and os.path.basename(path) not in names:
            origin += " — " + _("not listed by `p11-kit list-modules`")
        backend = Pkcs11Backend([path])
        try:
            tokens = backend.tokens()
        except SceauError as exc:
            checks.append(
                Check(
                    f"{vendor}: {path}",
                    False,
                    f"{exc.message} ({_('origin: {origin}').format(origin=origin)})",
                    _("Reinstall the middleware or correct pkcs11_modules in the configuration."),
                )
            )
            continue
        items = []
        for t in tokens:
            status = t.pin_status()
            pin = _("PIN locked") if status.locked else (_("few PIN tries left") if status.count_low else _("PIN ok"))
            try:
                n = len(t.certificates())
            except SceauError as exc:
                n = -1
                pin += f" ({exc.message})"
            items.append(
                _("token '{label}' ({model}): {n} certificate(s), {pin}").format(
                    label=t.info.label, model=t.info.model, n=n, pin=pin
                )
            )
        detail = _("{n} token(s) present").format(n=len(tokens)) if tokens else _("no token inserted")
        detail += " — " + _("origin: {origin}").format(origin=origin)
        checks.append(
            Check(f"{vendor}: {path}", True, detail, "" if tokens else _("Insert your card or USB key."), items)
        )
        backend.close()
    return checks


def _origin_text(origin: str, detail: str) -> str:
    """Where a module came from, for the user."""
    if origin == Origin.CONFIG:
        return _("configuration file (pkcs11_modules)")
    if origin == Origin.P11KIT:
        return _("p11-kit registry ({file})").format(file=detail)
    if origin == Origin.ATR:
        return _("card ATR")
    return _("built-in vendor table ({source})").format(source=detail) if detail else _("built-in vendor table")


def pcsc_fix(sbin: tuple[str, ...] = ("/usr/sbin", "/usr/local/sbin", "/sbin")) -> str:
    """What to do when the PC/SC service does not answer: install it (Linux, absent) or start it."""
    if sys.platform.startswith("linux") and not any(os.path.exists(os.path.join(d, "pcscd")) for d in sbin):
        return _("Install the PC/SC service (smart cards; PKCS#12 files work without it): sudo apt-get install pcscd")
    return _("Start the PC/SC service: sudo systemctl start pcscd")


def _pcsc_check() -> Check:
    try:
        from smartcard.System import readers  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return Check(
            _("Smart-card readers (PC/SC)"),
            False,
            _("pyscard is not installed"),
            _("pip install 'sceau[pcsc]' to get card insertion events"),
        )
    try:
        names = [str(r) for r in readers()]
    except Exception as exc:  # pyscard raises its own hierarchy and OSError alike
        return Check(
            _("Smart-card readers (PC/SC)"),
            False,
            str(exc)[:200],
            pcsc_fix(),
        )
    if not names:
        return Check(
            _("Smart-card readers (PC/SC)"), False, _("no reader connected"), _("Connect your reader or token.")
        )
    return Check(_("Smart-card readers (PC/SC)"), True, _("{n} reader(s)").format(n=len(names)), items=names)


def _manifest_check() -> Check:
    """Every documented manifest location: ours and usable, ours with a missing host, or foreign."""
    from sceau_native_host import manifests

    dirs = dict.fromkeys(
        manifests.target(b, system=system).directory for system in (False, True) for b in manifests.BROWSERS
    )
    good, bad = [], []
    for d in dirs:
        path = d / f"{HOST_NAME}.json"
        state, detail = manifests.inspect(path)
        if state == "ours":
            good.append(str(path))
        elif state != "absent":
            bad.append(_("{path}: {detail} (not used)").format(path=path, detail=detail))
    if bad:
        fix = _("Remove or fix the file(s) listed, then run: sceau install-manifests")
        return Check(_("Browser connection"), False, _("{n} unusable manifest(s)").format(n=len(bad)), fix, bad + good)
    if sys.platform.startswith("win") or sys.platform == "darwin":
        return Check(_("Browser connection"), bool(good), _("see the installer"), "sceau install-manifests", good)
    if not good:
        return Check(
            _("Browser connection"), False, _("no native-messaging manifest installed"), "sceau install-manifests"
        )
    return Check(_("Browser connection"), True, _("{n} manifest(s)").format(n=len(good)), items=good)


def _agent_check(cfg: config_mod.Config) -> Check:
    sock = cfg.runtime_path() / "agent.sock"
    if sock.exists():
        return Check(_("Agent"), True, _("running ({path})").format(path=sock))
    return Check(_("Agent"), True, _("not running (the browser starts it on demand)"))


def _tls_login_checks() -> list[Check]:
    """Per browser database: token module registered, authentication certificate visible (TLS login)."""
    from sceau.system.tls_doctor import tls_checks

    return tls_checks()


def run_doctor(args: argparse.Namespace) -> int:
    cfg_check, cfg = _config_check(getattr(args, "config", None))
    checks = [cfg_check, *_module_checks(cfg), _pcsc_check(), _manifest_check(), _agent_check(cfg)]
    tokens_ok = any(c.ok and c.items for c in checks[1:-3])
    checks += _tls_login_checks()
    if os.environ.get("SOFTHSM2_CONF"):
        checks.append(Check("SOFTHSM2_CONF", True, os.environ["SOFTHSM2_CONF"]))
    if getattr(args, "json", False):
        print(json.dumps([asdict(c) for c in checks], indent=2, ensure_ascii=False))
    else:
        for c in checks:
            print(f"{'✔' if c.ok else '✘'} {c.name}: {c.detail}")
            for item in c.items:
                print(f"    - {item}")
            if c.fix:
                print(f"    → {c.fix}")
    return 0 if cfg_check.ok and tokens_ok else 1
