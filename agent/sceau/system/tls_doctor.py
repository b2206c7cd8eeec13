"""`sceau doctor`, TLS login part: per browser database, is a token module registered and does the
browser see an authentication certificate through it? Each failing check names the fix command."""

from __future__ import annotations

import shutil
from pathlib import Path

from sceau.i18n import _
from sceau.protocol.codes import Role
from sceau.system import firefox_policy, tls_login
from sceau.system.doctor import Check
from sceau.system.nssdb import NssDatabase, NssDatabaseError, NssModule, tools_hint


def _token_module(db: NssDatabase) -> NssModule | None:
    """Sceau's entry, else a module the user registered (any non-internal one serves tokens)."""
    modules = db.modules()
    ours = [m for m in modules if m.name.startswith(tls_login.SCEAU_PREFIX)]
    candidates = ours or [m for m in modules if Path(m.library).name != "p11-kit-trust.so"]
    return candidates[0] if candidates else None


def auth_certificates(db: NssDatabase, module: NssModule) -> list[str]:
    """Token certificates NSS lists ("TOKEN:LABEL") that are authentication certificates, as Sceau reads
    them from the same module (NSS's certutil cannot show a token certificate without a login)."""
    from sceau.errors import SceauError
    from sceau.tokens.pkcs11 import Pkcs11Backend

    visible = db.token_certificates()
    backend = Pkcs11Backend([module.library])
    try:
        auth = {f"{t.info.label}:{e.label}" for t in backend.tokens() for e in t.certificates() if Role.AUTH in e.roles}
    except SceauError:
        auth = set()
    finally:
        backend.close()
    return [n for n in visible if n in auth]


def target_check(target: tls_login.Target, policy_modules: list[str]) -> Check:
    name = _("TLS login: {label}").format(label=target.label)
    fix = tls_login.FIX_COMMAND
    if not target.db.exists():
        return Check(name, False, _("no NSS database yet (start the browser once)"), fix)
    try:
        module = _token_module(target.db)
        if module is None:
            if target.browser is tls_login.Browser.FIREFOX and policy_modules:
                return Check(
                    name, True, _("the Firefox policy adds {name} at the next start").format(name=policy_modules[0])
                )
            return Check(name, False, _("no token module registered: the browser cannot see your card"), fix)
        certs = auth_certificates(target.db, module)
    except NssDatabaseError as exc:
        return Check(name, False, exc.message)
    registered = _("module {name} ({library})").format(name=module.name, library=module.library)
    if not certs:
        return Check(
            name,
            False,
            _("{module}: no authentication certificate visible").format(module=registered),
            _("Insert your card or USB key; if it is inserted, run `{command}` again.").format(command=fix),
        )
    running = _(" — restart {browser} to use it").format(browser=target.running) if target.running else ""
    return Check(
        name,
        True,
        _("{module}: {n} authentication certificate(s) visible").format(module=registered, n=len(certs)) + running,
        items=certs,
    )


def tls_checks(home: Path | None = None, policies: Path = firefox_policy.DEFAULT_FIREFOX_POLICIES) -> list[Check]:
    from sceau.system.middleware import detect

    found = detect()
    if found is not None:  # Windows, macOS: the system store serves TLS login
        return [
            Check(
                _("TLS login ({kind})").format(kind=found.kind),
                found.present,
                _("{n} found").format(n=len(found.items)) if found.present else _("no vendor middleware found"),
                "" if found.present else _("Install your token vendor's middleware (see docs/tls-login.md)."),
                found.items,
            )
        ]
    if shutil.which("modutil") is None or shutil.which("certutil") is None:
        return [Check(_("TLS login (browsers)"), False, _("NSS tools are missing"), tools_hint())]
    policy_modules = firefox_policy.registered_in_policy(policies)
    checks = [target_check(t, policy_modules) for t in tls_login.targets(home)]
    if policy_modules:
        checks.append(
            Check(
                _("TLS login: Firefox policy {path}").format(path=policies),
                True,
                ", ".join(policy_modules),
            )
        )
    return checks
