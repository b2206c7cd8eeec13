"""Terminal fallback UI: scripted streams, and a real pseudo-terminal for the hidden PIN."""

from __future__ import annotations

import io
import os
import pty
import select
import sys
import time
from pathlib import Path
from typing import TextIO

import pytest

from sceau.devkit import pki as devpki
from sceau.devkit.pki import DevPki
from sceau.errors import PinLocked, UserCancelled
from sceau.protocol.codes import OperationKind
from sceau.protocol.documents import DocumentInfo
from sceau.tokens.base import CertificateEntry, PinRequest, PinStatus, TokenInfo
from sceau.tokens.pkcs12 import Pkcs12Token
from sceau.ui.api import CertificateChoice, ConsentDecision, ConsentRequest
from sceau.ui.terminal import TerminalUI

TOKEN = TokenInfo(token_id="t", label="Carte agent", backend="pkcs11")
DOC = DocumentInfo("offre.pdf", 2048, "ab" * 32)


def entry(pki: DevPki, name: str) -> CertificateEntry:
    return Pkcs12Token(Path(pki[name].p12), devpki.P12_PASSWORD).certificates()[0]


def make(answers: str, secrets: list[str] | None = None) -> tuple[TerminalUI, io.StringIO]:
    out = io.StringIO()
    queue = list(secrets or [])

    def read_secret(prompt: str, stream: TextIO) -> str:
        stream.write(prompt)
        if not queue:
            raise EOFError
        return queue.pop(0)

    return TerminalUI(stdin=io.StringIO(answers), stdout=out, read_secret=read_secret), out


def test_confirm_shows_everything_and_approves(pki: DevPki, french: None) -> None:
    ui, out = make("o\n")
    request = ConsentRequest("https://marches.achats.gouv.fr", OperationKind.SIGN, (DOC,), entry(pki, "sign-ec256"))
    assert ui.confirm(request) == ConsentDecision(approved=True)
    text = out.getvalue()
    assert "achats.gouv.fr  (https://marches.achats.gouv.fr)" in text
    assert "Signer le document" in text and "offre.pdf (2,0 Ko — SHA-256 abababababababab…)" in text
    assert "Titulaire : " in text and "Autoriser ?" in text


def test_confirm_refused_by_default_and_on_eof(english: None) -> None:
    ui, _ = make("\n")
    with pytest.raises(UserCancelled):
        ui.confirm(ConsentRequest("https://a.example", OperationKind.DECRYPT))
    ui, _ = make("")
    with pytest.raises(UserCancelled):
        ui.confirm(ConsentRequest("https://a.example", OperationKind.DECRYPT))


def test_remember_only_for_authentication(english: None) -> None:
    ui, out = make("yes\ny\n")
    req = ConsentRequest("https://a.example", OperationKind.AUTHENTICATE, can_remember=True)
    assert ui.confirm(req) == ConsentDecision(approved=True, remember=True)
    ui, out = make("y\ny\n")
    req = ConsentRequest("https://a.example", OperationKind.SIGN, can_remember=True)
    assert ui.confirm(req) == ConsentDecision(approved=True, remember=False)
    assert "Remember" not in out.getvalue()


def test_pin_retry_and_warnings(french: None) -> None:
    ui, out = make("", secrets=["1234"])
    assert ui.ask_pin(PinRequest(TOKEN, PinStatus(final_try=True), retry=True)) == "1234"
    text = out.getvalue()
    assert "Code PIN incorrect." in text and "Dernier essai" in text and "Support : Carte agent" in text
    ui, _ = make("", secrets=[])
    with pytest.raises(UserCancelled):
        ui.ask_pin(PinRequest(TOKEN, PinStatus()))
    ui, _ = make("", secrets=[""])
    with pytest.raises(UserCancelled):
        ui.ask_pin(PinRequest(TOKEN, PinStatus()))
    ui, _ = make("")
    with pytest.raises(PinLocked, match="PUK"):
        ui.ask_pin(PinRequest(TOKEN, PinStatus(locked=True)))


def test_choose_certificate(pki: DevPki, english: None) -> None:
    cands = (entry(pki, "auth-rsa2048"), entry(pki, "auth-ec256"))
    ui, out = make("7\nx\n2\n")
    assert ui.choose_certificate(CertificateChoice("https://a.example", OperationKind.AUTHENTICATE, cands)) == cands[1]
    assert "Please type a number between 1 and 2." in out.getvalue()
    ui, _ = make("\n")
    with pytest.raises(UserCancelled):
        ui.choose_certificate(CertificateChoice("https://a.example", OperationKind.AUTHENTICATE, cands))


SCRIPT = """
import hashlib
from sceau.i18n import set_language
from sceau.tokens.base import PinRequest, PinStatus, TokenInfo
from sceau.ui.terminal import TerminalUI
set_language("en")
pin = TerminalUI().ask_pin(PinRequest(TokenInfo("t", "Card", "pkcs11"), PinStatus()))
print("DIGEST", hashlib.sha256(pin.encode()).hexdigest()[:12], flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminal")
def test_pin_not_echoed_on_a_real_terminal() -> None:
    pid, fd = pty.fork()
    if pid == 0:  # child: the terminal is its controlling tty
        os.execv(sys.executable, [sys.executable, "-c", SCRIPT])
    output = b""
    deadline = time.monotonic() + 20
    sent = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if not sent and b"Enter the PIN of your card:" in output:
            time.sleep(0.2)  # let getpass switch echo off
            os.write(fd, b"secret-7731\n")
            sent = True
        if b"DIGEST" in output and output.endswith(b"\n"):
            break
    os.waitpid(pid, 0)
    os.close(fd)
    import hashlib

    assert b"DIGEST " + hashlib.sha256(b"secret-7731").hexdigest()[:12].encode() in output
    assert b"secret-7731" not in output  # never echoed
