"""Tk dialogs under Xvfb, driven by real X key presses and clicks (xdotool)."""

from __future__ import annotations

import time
import tkinter as tk
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from tkinter import ttk
from typing import TypeVar

import pytest

from sceau.devkit import pki as devpki
from sceau.devkit.pki import DevPki
from sceau.errors import PinLocked, Timeout, UserCancelled
from sceau.protocol.codes import OperationKind
from sceau.protocol.documents import DocumentInfo
from sceau.tokens.base import CertificateEntry, PinRequest, PinStatus, TokenInfo
from sceau.tokens.pkcs12 import Pkcs12Token
from sceau.ui.api import CertificateChoice, ConsentDecision, ConsentRequest
from sceau.ui.dialogs import TkUserInterface
from sceau.ui.gui_thread import GuiThread
from tests.ui.ui_helpers import XDriver, save_screenshot, wait_until

T = TypeVar("T")
ORIGIN = "https://marches.achats.gouv.fr"
DOCS = (
    DocumentInfo("acte-engagement.pdf", 234_567, "3f6a1c" + "0" * 58),
    DocumentInfo("memoire-technique.pdf", 3_456_789, "a1b2c3" + "1" * 58),
    DocumentInfo("bordereau-prix.xlsx", 45_678, "77e0d4" + "2" * 58),
)
TOKEN = TokenInfo(token_id="pkcs11:test", label="Carte agent — Marie Durand", backend="pkcs11")


@pytest.fixture
def tk_ui(gui: GuiThread) -> TkUserInterface:
    return TkUserInterface(gui, timeout_s=30, arm_delay_s=0.3)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as executor:
        yield executor


def entry(pki: DevPki, name: str) -> CertificateEntry:
    return Pkcs12Token(Path(pki[name].p12), devpki.P12_PASSWORD).certificates()[0]


def dialog_box(ui: TkUserInterface) -> tuple[int, int, int, int]:
    """Screen geometry of the dialog on screen."""

    def box(root: tk.Tk) -> tuple[int, int, int, int] | None:
        for w in root.winfo_children():
            if isinstance(w, tk.Toplevel) and w.winfo_ismapped():
                return (w.winfo_rootx(), w.winfo_rooty(), w.winfo_width(), w.winfo_height())
        return None

    found = ui.gui.call(box)
    assert found is not None
    return found


def widget_centre(ui: TkUserInterface, kind: type[tk.Misc]) -> tuple[int, int]:
    def find(root: tk.Tk) -> tuple[int, int] | None:
        stack: list[tk.Misc] = list(root.winfo_children())
        while stack:
            w = stack.pop()
            if isinstance(w, kind) and w.winfo_ismapped():
                return (w.winfo_rootx() + 8, w.winfo_rooty() + w.winfo_height() // 2)
            stack.extend(w.winfo_children())
        return None

    found = ui.gui.call(find)
    assert found is not None
    return found


def checkbox_value(ui: TkUserInterface) -> bool:
    def check(root: tk.Tk) -> bool:
        stack: list[tk.Misc] = list(root.winfo_children())
        while stack:
            w = stack.pop()
            if isinstance(w, ttk.Checkbutton):
                return bool(root.getboolean(root.getvar(str(w.cget("variable")))))
            stack.extend(w.winfo_children())
        return False

    return bool(ui.gui.call(check))


def button_enabled(ui: TkUserInterface, text: str) -> bool:
    def check(root: tk.Tk) -> bool:
        stack: list[tk.Misc] = list(root.winfo_children())
        while stack:
            w = stack.pop()
            if isinstance(w, ttk.Button) and w.cget("text") == text:
                return not w.instate(["disabled"])
            stack.extend(w.winfo_children())
        return False

    return bool(ui.gui.call(check))


def shown(ui: TkUserInterface, needle: str) -> list[str]:
    """Wait until a dialog showing `needle` is on screen; return all its texts."""
    return list(wait_until(lambda: (t := ui.current_texts()) and any(needle in s for s in t) and t, what=needle))


def run(pool: ThreadPoolExecutor, fn: Callable[[], T]) -> Future[T]:
    return pool.submit(fn)


def test_consent_sign_approved_with_enter(
    tk_ui: TkUserInterface, xdriver: XDriver, pki: DevPki, pool: ThreadPoolExecutor, french: None
) -> None:
    request = ConsentRequest(ORIGIN, OperationKind.SIGN, DOCS, entry(pki, "sign-rsa2048"))
    future = run(pool, lambda: tk_ui.confirm(request))
    texts = shown(tk_ui, "Signer 3 documents")
    joined = "\n".join(texts)
    assert "achats.gouv.fr" in texts  # the registrable domain, on its own line
    assert ORIGIN in texts
    for doc in DOCS:
        assert doc.name in texts
        assert doc.sha256_hex[:16] in joined
    assert "Titulaire : Marie Durand" in texts
    assert any(t.startswith("Émis par : ") for t in texts)
    assert "Autoriser" in texts and "Refuser" in texts
    assert not any("Se souvenir" in t for t in texts)  # only authentication can be remembered
    wait_until(lambda: button_enabled(tk_ui, "Autoriser"), what="arming delay")
    save_screenshot(xdriver, dialog_box(tk_ui), "consentement-signature", doc=True)
    xdriver.key("Return")
    assert future.result(10) == ConsentDecision(approved=True, remember=False)


def test_consent_enter_ignored_before_arming(
    gui: GuiThread, xdriver: XDriver, pool: ThreadPoolExecutor, english: None
) -> None:
    ui = TkUserInterface(gui, timeout_s=30, arm_delay_s=1.5)
    future = run(pool, lambda: ui.confirm(ConsentRequest(ORIGIN, OperationKind.DECRYPT, DOCS[:1])))
    texts = shown(ui, "Open an encrypted bid")
    assert "acte-engagement.pdf" in texts
    xdriver.key("Return")  # a keystroke meant for the web page
    time.sleep(0.3)
    assert not future.done()
    wait_until(lambda: button_enabled(ui, "Allow"), what="arming delay")
    xdriver.key("Return")
    assert future.result(10).approved


def test_consent_refused_with_escape(
    tk_ui: TkUserInterface, xdriver: XDriver, pool: ThreadPoolExecutor, english: None
) -> None:
    future = run(pool, lambda: tk_ui.confirm(ConsentRequest(ORIGIN, OperationKind.SIGN, DOCS[:1])))
    shown(tk_ui, "Sign the document")
    xdriver.key("Escape")
    with pytest.raises(UserCancelled):
        future.result(10)


def test_consent_refused_with_alt_mnemonic(
    tk_ui: TkUserInterface, xdriver: XDriver, pool: ThreadPoolExecutor, french: None
) -> None:
    future = run(pool, lambda: tk_ui.confirm(ConsentRequest(ORIGIN, OperationKind.SIGN, DOCS[:1])))
    shown(tk_ui, "Signer le document")
    xdriver.key("alt+r")  # Refuser
    with pytest.raises(UserCancelled):
        future.result(10)


def test_consent_window_close_cancels(tk_ui: TkUserInterface, pool: ThreadPoolExecutor, english: None) -> None:
    future = run(pool, lambda: tk_ui.confirm(ConsentRequest(ORIGIN, OperationKind.SIGN, DOCS[:1])))
    shown(tk_ui, "Sign the document")

    def close(root: tk.Tk) -> None:  # what the window manager does on the close box
        for w in root.winfo_children():
            if isinstance(w, tk.Toplevel):
                w.tk.call(w.protocol("WM_DELETE_WINDOW"))

    tk_ui.gui.call(close)
    with pytest.raises(UserCancelled):
        future.result(10)


def test_consent_authentication_remember_site(
    tk_ui: TkUserInterface, xdriver: XDriver, pki: DevPki, pool: ThreadPoolExecutor, french: None
) -> None:
    request = ConsentRequest(
        "https://www.marches-publics.gouv.fr",
        OperationKind.AUTHENTICATE,
        certificate=entry(pki, "auth-rsa2048"),
        can_remember=True,
    )
    future = run(pool, lambda: tk_ui.confirm(request))
    texts = shown(tk_ui, "S'authentifier")
    assert "marches-publics.gouv.fr" in texts
    assert "Se souvenir de ce site pour l'authentification" in texts
    wait_until(lambda: button_enabled(tk_ui, "Autoriser"), what="arming delay")
    xdriver.click(*widget_centre(tk_ui, ttk.Checkbutton))
    wait_until(lambda: checkbox_value(tk_ui), what="checkbox ticked")
    save_screenshot(xdriver, dialog_box(tk_ui), "consentement-authentification", doc=True)
    xdriver.key("Return")
    assert future.result(10) == ConsentDecision(approved=True, remember=True)


def test_consent_timeout(gui: GuiThread) -> None:
    ui = TkUserInterface(gui, timeout_s=0.5)
    with pytest.raises(Timeout):
        ui.confirm(ConsentRequest(ORIGIN, OperationKind.SIGN, DOCS))
    assert ui.current_texts() == []  # the dialog is gone


def test_dialogs_are_queued_one_at_a_time(
    tk_ui: TkUserInterface, xdriver: XDriver, pool: ThreadPoolExecutor, english: None
) -> None:
    first = run(pool, lambda: tk_ui.confirm(ConsentRequest("https://one.example", OperationKind.SIGN, DOCS[:1])))
    shown(tk_ui, "https://one.example")
    second = run(pool, lambda: tk_ui.confirm(ConsentRequest("https://two.example", OperationKind.DECRYPT)))
    time.sleep(0.3)
    texts = tk_ui.current_texts()
    assert "https://one.example" in texts and "https://two.example" not in texts
    xdriver.key("Escape")
    with pytest.raises(UserCancelled):
        first.result(10)
    shown(tk_ui, "https://two.example")
    assert not second.done()
    wait_until(lambda: button_enabled(tk_ui, "Allow"), what="arming delay")
    xdriver.key("Return")
    assert second.result(10).approved


def test_pin_typed_and_validated(
    tk_ui: TkUserInterface, xdriver: XDriver, pool: ThreadPoolExecutor, french: None
) -> None:
    request = PinRequest(TOKEN, PinStatus(count_low=True, retries_left=2))
    future = run(pool, lambda: tk_ui.ask_pin(request))
    texts = shown(tk_ui, "Saisissez le code PIN de votre carte :")
    assert "Support : Carte agent — Marie Durand" in texts
    assert "Il reste 2 essais avant le blocage du code PIN." in texts
    xdriver.type("4821")
    time.sleep(0.2)
    save_screenshot(xdriver, dialog_box(tk_ui), "code-pin", doc=True)
    assert "4821" not in "".join(tk_ui.current_texts())  # masked
    xdriver.key("Return")
    assert future.result(10) == "4821"


def test_pin_retry_shows_error_and_final_try(
    tk_ui: TkUserInterface, xdriver: XDriver, pool: ThreadPoolExecutor, french: None
) -> None:
    request = PinRequest(TOKEN, PinStatus(count_low=True, final_try=True), retry=True)
    future = run(pool, lambda: tk_ui.ask_pin(request))
    texts = shown(tk_ui, "Code PIN incorrect.")
    assert "Dernier essai : un code PIN erroné bloquera la carte." in texts
    save_screenshot(xdriver, dialog_box(tk_ui), "code-pin-dernier-essai", doc=True)
    xdriver.key("Return")  # empty PIN: ignored
    time.sleep(0.2)
    assert not future.done()
    xdriver.type("1234")
    xdriver.key("KP_Enter")
    assert future.result(10) == "1234"


def test_pin_cancelled(tk_ui: TkUserInterface, xdriver: XDriver, pool: ThreadPoolExecutor, english: None) -> None:
    future = run(pool, lambda: tk_ui.ask_pin(PinRequest(TOKEN, PinStatus())))
    shown(tk_ui, "Enter the PIN of your card:")
    xdriver.type("12")
    xdriver.key("Escape")
    with pytest.raises(UserCancelled):
        future.result(10)


def test_pin_locked_says_what_to_do(
    tk_ui: TkUserInterface, xdriver: XDriver, pool: ThreadPoolExecutor, french: None
) -> None:
    future = run(pool, lambda: tk_ui.ask_pin(PinRequest(TOKEN, PinStatus(locked=True))))
    texts = shown(tk_ui, "PUK")
    assert "Fermer" in texts
    xdriver.key("Return")
    with pytest.raises(PinLocked):
        future.result(10)


def test_password_prompt_for_pkcs12(
    tk_ui: TkUserInterface, xdriver: XDriver, pool: ThreadPoolExecutor, english: None
) -> None:
    info = TokenInfo(token_id="pkcs12:x", label="certificat.p12", backend="pkcs12")
    future = run(pool, lambda: tk_ui.ask_pin(PinRequest(info, PinStatus(), is_password=True)))
    texts = shown(tk_ui, "Password of the certificate file:")
    assert "Sceau — password" in texts
    xdriver.type("motdepasse")
    xdriver.key("Return")
    assert future.result(10) == "motdepasse"


def test_picker_choose_with_keyboard(
    tk_ui: TkUserInterface, xdriver: XDriver, pki: DevPki, pool: ThreadPoolExecutor, french: None
) -> None:
    candidates = (entry(pki, "sign-rsa2048"), entry(pki, "sign-ec256"), entry(pki, "sign-rsa3072"))
    choice = CertificateChoice(ORIGIN, OperationKind.SIGN, candidates)
    future = run(pool, lambda: tk_ui.choose_certificate(choice))
    texts = shown(tk_ui, "Plusieurs certificats conviennent. Choisissez celui à utiliser :")
    assert "achats.gouv.fr" in texts and ORIGIN in texts
    rows = [t for t in texts if " | " in t]
    assert len(rows) == 3
    for cand, row in zip(candidates, rows, strict=True):
        assert row.startswith(cand.subject_cn) and cand.issuer_cn in row
    save_screenshot(xdriver, dialog_box(tk_ui), "choix-certificat", doc=True)
    xdriver.key("Down")
    xdriver.key("Return")
    assert future.result(10) == candidates[1]


def test_picker_cancel_and_single_candidate(
    tk_ui: TkUserInterface, xdriver: XDriver, pki: DevPki, pool: ThreadPoolExecutor, english: None
) -> None:
    one = entry(pki, "auth-rsa2048")
    assert tk_ui.choose_certificate(CertificateChoice(ORIGIN, OperationKind.AUTHENTICATE, (one,))) is one
    two = (one, entry(pki, "auth-ec256"))
    future = run(pool, lambda: tk_ui.choose_certificate(CertificateChoice(ORIGIN, OperationKind.AUTHENTICATE, two)))
    shown(tk_ui, "Several certificates fit. Choose the one to use:")
    xdriver.key("Escape")
    with pytest.raises(UserCancelled):
        future.result(10)


def test_expired_certificate_flagged(
    tk_ui: TkUserInterface, pki: DevPki, pool: ThreadPoolExecutor, french: None, xdriver: XDriver
) -> None:
    expired = entry(pki, "sign-expired")
    future = run(pool, lambda: tk_ui.confirm(ConsentRequest(ORIGIN, OperationKind.SIGN, DOCS[:1], expired)))
    texts = shown(tk_ui, "Signer le document")
    assert any(t.startswith("Ce certificat a expiré le ") for t in texts)
    xdriver.key("Escape")
    with pytest.raises(UserCancelled):
        future.result(10)
