"""Tray menu model and controller, without a display."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sceau.devkit import pki as devpki
from sceau.devkit.pki import DevPki
from sceau.errors import NoToken
from sceau.store.sites import TrustedSites
from sceau.system.autostart import Autostart
from sceau.tokens.base import CertificateEntry
from sceau.tokens.pkcs12 import Pkcs12Token
from sceau.ui.menu import Action, MenuItem, TrayModel, TrayState, build_menu, expiring
from sceau.ui.tray import TrayController


def entry(pki: DevPki, name: str) -> CertificateEntry:
    return Pkcs12Token(Path(pki[name].p12), devpki.P12_PASSWORD).certificates()[0]


def find(items: tuple[MenuItem, ...], label: str) -> MenuItem:
    for item in items:
        if item.label == label:
            return item
    raise AssertionError(f"{label!r} not in {[i.label for i in items]}")


def test_menu_structure_in_french(pki: DevPki, tmp_path: Path, french: None) -> None:
    sites = TrustedSites(tmp_path)
    sites.grant("https://marches.achats.gouv.fr", ["authenticate", "sign"])
    cert = entry(pki, "sign-rsa2048")
    model = TrayModel(TrayState.CARD, [cert], sites.list(), language="fr", autostart=True)
    menu = build_menu(model)
    labels = [i.label for i in menu if not i.separator]
    assert labels == [
        "Sceau — carte insérée",
        "Certificats",
        "Sites autorisés",
        "Journal…",
        "Langue",
        "Démarrer avec la session",
        "Diagnostic…",
        "Connexion par certificat dans les navigateurs (TLS)…",
        "Quitter",
    ]
    (cert_item,) = find(menu, "Certificats").children
    assert cert_item.label.startswith(f"{cert.subject_cn} (signature) — {cert.issuer_cn} — expire le ")
    site = find(menu, "Sites autorisés").children[0]
    assert site.label == "https://marches.achats.gouv.fr"
    assert [c.label.split(" — ")[0] for c in site.children if not c.separator][:2] == ["authentification", "signature"]
    revoke = site.children[-1]
    assert (revoke.action, revoke.payload) == (Action.REVOKE_SITE, "https://marches.achats.gouv.fr")
    assert find(menu, "Démarrer avec la session").checked is True
    langs = find(menu, "Langue").children
    assert [(i.label, i.checked, i.radio) for i in langs] == [("Français", True, True), ("English", False, True)]


def test_expiry_warning_30_days(pki: DevPki, english: None) -> None:
    cert = entry(pki, "sign-rsa2048")
    end = cert.certificate.not_valid_after_utc
    soon = TrayModel(TrayState.READY, [cert], now=end - timedelta(days=10))
    later = TrayModel(TrayState.READY, [cert], now=end - timedelta(days=40))
    assert expiring(soon) == [cert] and expiring(later) == []
    (item,) = find(build_menu(soon), "Certificates").children
    assert item.label.startswith("⚠ ") and "expires in 10 days: renew it" in item.label
    expired = entry(pki, "sign-expired")
    (item,) = find(build_menu(TrayModel(TrayState.READY, [expired], now=datetime.now(UTC))), "Certificates").children
    assert "expired on" in item.label


def test_empty_menu_and_error_state(english: None) -> None:
    menu = build_menu(TrayModel(TrayState.ERROR, error="pcscd is not running"))
    assert menu[0].label == "Sceau — error: pcscd is not running" and not menu[0].enabled
    assert not find(menu, "Certificates").children[0].enabled
    assert find(menu, "Allowed sites").children[0].label == "(no site allowed yet)"


def test_controller_actions(tmp_path: Path, english: None) -> None:
    sites = TrustedSites(tmp_path / "data")
    sites.grant("https://a.example", ["authenticate"])
    sites.grant("https://b.example", ["sign"])
    auto = Autostart(["/usr/bin/sceau", "agent"], platform="linux", home=tmp_path)
    calls: list[str] = []

    def no_certs() -> list[CertificateEntry]:
        raise NoToken("no token")

    ctl = TrayController(
        certificates=no_certs,
        sites=sites,
        autostart=auto,
        open_journal=lambda: calls.append("journal"),
        show_diagnostic=lambda: calls.append("doctor"),
        quit=lambda: calls.append("quit"),
        on_language=lambda lang: calls.append(f"lang:{lang}"),
    )
    redraws: list[int] = []
    ctl.add_listener(lambda: redraws.append(1))
    assert ctl.model().certificates == []  # a token error does not break the menu
    ctl.dispatch(Action.REVOKE_SITE, "https://a.example")
    assert [g.origin for g in sites.list()] == ["https://b.example"]
    ctl.dispatch(Action.REVOKE_ALL_SITES)
    assert sites.list() == []
    ctl.dispatch(Action.TOGGLE_AUTOSTART)
    assert auto.is_enabled() and ctl.model().autostart
    ctl.dispatch(Action.TOGGLE_AUTOSTART)
    assert not auto.is_enabled()
    ctl.dispatch(Action.SET_LANGUAGE, "fr")
    assert ctl.menu()[-1].label == "Quitter"
    ctl.dispatch(Action.SET_LANGUAGE, "en")
    for action in (Action.OPEN_JOURNAL, Action.DIAGNOSTIC, Action.QUIT):
        ctl.dispatch(action)
    assert calls == ["lang:fr", "lang:en", "journal", "doctor", "quit"]
    ctl.set_state(TrayState.BUSY)
    assert ctl.menu()[0].label == "Sceau — operation in progress"
    assert len(redraws) >= 8


PYSTRAY_PROBE = """
import sys
import pystray
from sceau.i18n import set_language
from sceau.ui.menu import TrayModel, TrayState, build_menu
from sceau.ui.tray import icon_image, to_pystray
set_language("fr")
got = []
items = to_pystray(build_menu(TrayModel(TrayState.READY)), lambda a, p: got.append((a, p)), pystray)
menu = pystray.Menu(*items)
def walk(m, depth=0):
    for it in m.items:
        mark = "" if it.checked is None else f" {it.checked}"
        print("  " * depth + (it.text or "---") + mark)
        if it.submenu:
            walk(it.submenu, depth + 1)
walk(menu)
quit_item = [i for i in menu.items if i.text == "Quitter"][0]
quit_item(None)
print("DISPATCHED", got)
img = icon_image(TrayState.ERROR)
print("ICON", img.size, img.getpixel((32, 10)))
"""


def test_pystray_menu_conversion(xvfb: str) -> None:
    """pystray opens the display on import: run it in a child with DISPLAY set to our Xvfb."""
    pytest.importorskip("PIL")
    out = subprocess.run(
        [sys.executable, "-c", PYSTRAY_PROBE],
        env=dict(os.environ, DISPLAY=xvfb),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "ModuleNotFoundError: No module named 'pystray'" in out.stderr:
        pytest.skip("pystray not installed")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Langue\n  Français True\n  English False" in text
    assert "Démarrer avec la session False" in text
    assert "DISPATCHED [(<Action.QUIT: 'quit'>, '')]" in text
    assert "ICON (64, 64) (198, 40, 40, 255)" in text  # red seal for the error state


def test_tray_titles_are_x11_safe() -> None:
    """pystray's X11 backend encodes the title as Latin-1: every state text must survive that."""
    from sceau import i18n
    from sceau.ui.menu import TrayModel, TrayState, state_text
    from sceau.ui.tray import x11_safe

    for lang in i18n.SUPPORTED:
        i18n.set_language(lang)
        for state in TrayState:
            title = x11_safe(state_text(TrayModel(state, error="la carte — retirée…")))
            title.encode("latin-1")
            assert "Sceau" in title
    i18n.set_language("en")
