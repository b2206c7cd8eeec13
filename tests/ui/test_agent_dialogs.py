"""The real agent with Tk dialogs and the SoftHSM2 token: picker, consent, wrong then right PIN."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import tkinter as tk
from pathlib import Path
from tkinter import ttk

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import load_der_x509_certificate

from sceau.app import Agent
from sceau.config import Config
from sceau.devkit import pki as devpki
from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki
from sceau.protocol.auth_token import signed_fields
from sceau.store.journal import Journal
from sceau.tokens.base import Digest
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.registry import TokenManager
from sceau.ui.dialogs import TkUserInterface
from sceau.ui.gui_thread import GuiThread
from tests.ui.ui_helpers import XDriver, save_screenshot, wait_until

ORIGIN = "https://marches.achats.gouv.fr"


def selected_row(ui: TkUserInterface) -> int:
    def find(root: tk.Tk) -> int:
        stack: list[tk.Misc] = list(root.winfo_children())
        while stack:
            w = stack.pop()
            if isinstance(w, ttk.Treeview):
                return w.get_children().index(w.selection()[0])
            stack.extend(w.winfo_children())
        return -1

    return int(ui.gui.call(find))


def texts_with(ui: TkUserInterface, needle: str) -> list[str]:
    return list(wait_until(lambda: (t := ui.current_texts()) and any(needle in s for s in t) and t, what=needle))


def allow_enabled(ui: TkUserInterface) -> bool:
    def check(root: tk.Tk) -> bool:
        stack: list[tk.Misc] = list(root.winfo_children())
        while stack:
            w = stack.pop()
            if isinstance(w, ttk.Button) and w.cget("text") == "Autoriser":
                return not w.instate(["disabled"])
            stack.extend(w.winfo_children())
        return False

    return bool(ui.gui.call(check))


async def test_authenticate_through_agent(
    gui: GuiThread,
    xdriver: XDriver,
    softhsm_module: str,
    pki: DevPki,
    tmp_path: Path,
    french: None,
) -> None:
    ui = TkUserInterface(gui, timeout_s=30, arm_delay_s=0.2)
    journal = Journal(tmp_path)
    backend = Pkcs11Backend([softhsm_module])
    agent = Agent(Config(data_dir=str(tmp_path)), TokenManager([backend]), ui, journal=journal)
    nonce = base64.b64encode(os.urandom(32)).decode()
    request = {"v": 1, "id": "a1", "cmd": "authenticate", "args": {"nonce": nonce}, "origin": ORIGIN}
    wanted = pki.cert("auth-rsa2048")
    wanted_cn = wanted.subject.rfc4514_string().split("CN=")[1].split(",")[0]

    def drive() -> None:
        # 1. Several authentication certificates: the picker; move to the RSA 2048 one.
        texts = texts_with(ui, "Plusieurs certificats conviennent")
        rows = [t for t in texts if " | " in t]
        target = next(i for i, r in enumerate(rows) if r.startswith(wanted_cn + " |") and "auth-" not in r)
        steps = target - selected_row(ui)
        if steps:
            xdriver.key(*(["Down"] * steps if steps > 0 else ["Up"] * -steps))
        wait_until(lambda: selected_row(ui) == target, what="row selected")
        xdriver.key("Return")
        # 2. Consent: the site and the operation in plain words.
        texts = texts_with(ui, "S'authentifier")
        assert "achats.gouv.fr" in texts and ORIGIN in texts
        assert f"Titulaire : {wanted_cn}" in texts
        wait_until(lambda: allow_enabled(ui), what="arming delay")
        xdriver.key("Return")
        # 3. PIN. (The wrong-PIN retry is tested with a PKCS#12 file below: PKCS#11 login state
        # is per process, so a session another test left logged in would accept any PIN here.)
        texts_with(ui, "Saisissez le code PIN de votre carte :")
        xdriver.type(softhsm.USER_PIN)
        xdriver.key("Return")

    try:
        response, _ = await asyncio.gather(agent.handle(request), asyncio.to_thread(drive))
    finally:
        agent.close()
    assert response["ok"], response
    result = response["result"]
    assert result["format"] == "web-eid:1.0" and result["algorithm"] == "RS256"
    cert_der = base64.b64decode(result["unverifiedCertificate"])
    assert load_der_x509_certificate(cert_der) == wanted

    # Independent check of the signature with openssl.
    (tmp_path / "pub.pem").write_bytes(
        load_der_x509_certificate(cert_der).public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "data.bin").write_bytes(signed_fields(ORIGIN, nonce, Digest.SHA256))
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(result["signature"]))
    out = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "data.bin"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "Verified OK" in out.stdout, out.stdout + out.stderr

    records = list(journal.read())
    assert [(r.origin, r.operation, r.result) for r in records] == [(ORIGIN, "authenticate", "ok")]
    assert softhsm.USER_PIN not in journal.path.read_text() or softhsm.USER_PIN in nonce


def dialog_box(ui: TkUserInterface) -> tuple[int, int, int, int]:
    def box(root: tk.Tk) -> tuple[int, int, int, int]:
        for w in root.winfo_children():
            if isinstance(w, tk.Toplevel) and w.winfo_ismapped():
                return (w.winfo_rootx(), w.winfo_rooty(), w.winfo_width(), w.winfo_height())
        return (0, 0, 100, 100)

    result: tuple[int, int, int, int] = ui.gui.call(box)
    return result


async def test_wrong_password_retried_in_dialog_never_sent_to_page(
    gui: GuiThread, xdriver: XDriver, pki: DevPki, tmp_path: Path, french: None
) -> None:
    """A PKCS#12 file: consent, wrong password → "incorrect" in the dialog → right one → signed."""
    from sceau.tokens.pkcs12 import Pkcs12Backend

    ui = TkUserInterface(gui, timeout_s=30, arm_delay_s=0.2)
    backend = Pkcs12Backend([Path(pki["auth-ec256"].p12)])
    agent = Agent(Config(data_dir=str(tmp_path)), TokenManager([backend]), ui)
    nonce = base64.b64encode(os.urandom(32)).decode()
    request = {"v": 1, "id": "a2", "cmd": "authenticate", "args": {"nonce": nonce}, "origin": ORIGIN}
    passwords: list[str] = []

    def drive() -> None:
        prompt = "Mot de passe du fichier de certificat :"
        texts_with(ui, prompt)  # the file hides its certificate until opened
        xdriver.type("pas-le-bon")
        passwords.append("pas-le-bon")
        xdriver.key("Return")
        texts_with(ui, "Mot de passe incorrect.")
        save_screenshot(xdriver, dialog_box(ui), "mot-de-passe-incorrect", doc=False)
        xdriver.type(devpki.P12_PASSWORD)
        xdriver.key("Return")
        texts_with(ui, "S'authentifier")
        wait_until(lambda: allow_enabled(ui), what="arming delay")
        xdriver.key("Return")

    try:
        response, _ = await asyncio.gather(agent.handle(request), asyncio.to_thread(drive))
    finally:
        agent.close()
    assert response["ok"], response
    assert passwords == ["pas-le-bon"]
    assert "pas-le-bon" not in json.dumps(response) and devpki.P12_PASSWORD not in json.dumps(response)
