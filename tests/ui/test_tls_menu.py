"""The tray's "Certificate login in the browsers (TLS)…" entry runs `sceau browsers enable-tls-login`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sceau.ui.menu import Action, TrayModel, TrayState, build_menu
from sceau.ui.tray import TrayController, tls_login_text


def test_menu_entry_dispatches_to_enable_tls_login(english: None) -> None:
    items = [i for i in build_menu(TrayModel(TrayState.READY)) if i.action is Action.TLS_LOGIN]
    assert [i.label for i in items] == ["Certificate login in the browsers (TLS)…"]
    calls: list[str] = []
    TrayController(enable_tls_login=lambda: calls.append("tls")).dispatch(Action.TLS_LOGIN)
    assert calls == ["tls"]


def test_french_label(french: None) -> None:
    labels = [i.label for i in build_menu(TrayModel(TrayState.READY)) if i.action is Action.TLS_LOGIN]
    assert labels == ["Connexion par certificat dans les navigateurs (TLS)…"]


def test_tls_login_text_registers_in_the_user_nss_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, softhsm_module: str
) -> None:
    # The tray's command (no options): discovery chooses the module; HOME is a throw-away folder.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SCEAU_LANG", "en")
    text = tls_login_text()
    assert "Chromium / Chrome / Edge (~/.pki/nssdb)" in text and "registered" in text, text
    assert "library=" in (tmp_path / ".pki/nssdb/pkcs11.txt").read_text()
    assert "name=Sceau (" in (tmp_path / ".pki/nssdb/pkcs11.txt").read_text()
    assert os.environ["HOME"] == str(tmp_path)
