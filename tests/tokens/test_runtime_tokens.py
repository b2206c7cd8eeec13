"""Several modules in one agent, a module stuck in C_Sign, PIN-pad readers — on real module stacks.

Token A is the suite's SoftHSM2 token loaded directly; token B ("Carte B") lives in a token directory of
its own behind a second SoftHSM2 instance and the pinlimit pass-through (see `runtime_stack`).
Signatures are checked with openssl.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from sceau.config import Config
from sceau.devkit import softhsm
from sceau.errors import Timeout
from sceau.operations.context import OperationContext
from sceau.protocol.codes import ErrorCode, Role
from sceau.tokens.base import CertificateEntry, Digest, PinRequest, SignScheme
from sceau.tokens.executor import LANES, TokenExecutor
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.registry import TokenManager
from sceau.ui.api import pinpad_notice
from sceau.ui.headless import HeadlessUI
from tests.tokens import runtime_stack
from tests.tokens.runtime_stack import CARD_LABEL, CARD_PIN, CardToken


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory, softhsm_module: str) -> CardToken:
    return runtime_stack.make_card_token(tmp_path_factory.mktemp("carte-b"), softhsm_module)


@pytest.fixture(scope="module")
def modules(
    tmp_path_factory: pytest.TempPathFactory,
    card: CardToken,
    pinlimit_module: Path,
    softhsm_module: str,
    softhsm_conf: Path,
) -> dict[str, str]:
    """Module instances: B (card B), pinpad (token A behind a PIN pad), hang (card B, C_Sign never returns)."""
    folder = tmp_path_factory.mktemp("modules")

    def make(name: str, conf: Path, **settings: str) -> str:
        return runtime_stack.module_instance(folder, name, pinlimit_module, softhsm_module, conf, **settings)

    return {
        "B": make("carte-b", card.conf),
        "pinpad": make("pinpad", softhsm_conf, PINLIMIT_PINPAD=softhsm.USER_PIN),
        "pinpad-b": make("pinpad-b", card.conf, PINLIMIT_PINPAD=CARD_PIN),
        "hang": make("hang", card.conf, PINLIMIT_HANG_SIGN="1"),
    }


class RecordingUI(HeadlessUI):
    """Headless answers, plus what a user would have seen: notices, and every PIN dialog."""

    def __init__(self, pins: dict[str, str]) -> None:
        super().__init__(approve=True)
        self.pins = pins
        self.notices: list[str] = []

    def ask_pin(self, request: PinRequest) -> str:
        self.pin_requests.append(request)
        assert not request.pinpad, "a PIN-pad token must not get a PIN dialog"
        return self.pins[request.token.label]

    def notify(self, message: str) -> None:
        self.notices.append(message)


def _verify(entry: CertificateEntry, data: bytes, signature: bytes, tmp: Path) -> None:
    """openssl checks the signature against the certificate's public key."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    if entry.key_type == "ec":  # tokens give r ‖ s; openssl wants DER
        half = len(signature) // 2
        signature = encode_dss_signature(
            int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        )
    (tmp / "pub.pem").write_bytes(
        entry.certificate.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp / "data").write_bytes(data)
    (tmp / "sig").write_bytes(signature)
    r = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-verify",
            str(tmp / "pub.pem"),
            "-signature",
            str(tmp / "sig"),
            str(tmp / "data"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "Verified OK" in r.stdout, r.stdout + r.stderr


@pytest.fixture
def managers() -> Iterator[list[TokenManager]]:
    made: list[TokenManager] = []
    yield made
    for manager in made:
        manager.close()  # log out: SoftHSM2 keeps a login for the process while a session is open


def test_two_independent_modules_listed_with_their_tokens(
    softhsm_module: str, modules: dict[str, str], card: CardToken, managers: list[TokenManager], tmp_path: Path
) -> None:
    manager = TokenManager([Pkcs11Backend([softhsm_module, modules["B"]])])
    managers.append(manager)
    entries = manager.entries(Role.SIGN)
    by_token = {e.token.label for e in entries}
    assert {softhsm.TOKEN_LABEL, CARD_LABEL} <= by_token
    card_cert = x509.load_der_x509_certificate(card.cert_der)
    [b_entry] = [e for e in entries if e.token.label == CARD_LABEL]
    assert b_entry.certificate == card_cert and b_entry.summary()["token"] == CARD_LABEL
    assert b_entry.token.module == modules["B"]
    # Each token signs with its own PIN; openssl checks both.
    ui = RecordingUI({softhsm.TOKEN_LABEL: softhsm.USER_PIN, CARD_LABEL: CARD_PIN})
    a_entry = next(e for e in entries if e.label == "sign-ec256" and e.token.label == softhsm.TOKEN_LABEL)
    for entry in (a_entry, b_entry):
        token = manager.token_of(entry)
        signature = token.sign_raw(entry, b"offre", SignScheme.ECDSA, Digest.SHA256, prehashed=False, prompt=ui.ask_pin)
        _verify(entry, b"offre", signature, tmp_path)
    assert sorted(r.token.label for r in ui.pin_requests) == sorted([softhsm.TOKEN_LABEL, CARD_LABEL])


def test_same_token_through_two_modules_is_listed_once_from_the_preferred_module(
    softhsm_module: str, modules: dict[str, str], managers: list[TokenManager]
) -> None:
    # Token A reached directly (configured: rank 0) and again through the pass-through (generic: rank 2).
    backend = Pkcs11Backend([modules["pinpad"], softhsm_module], ranks={softhsm_module: 0, modules["pinpad"]: 2})
    manager = TokenManager([backend])
    managers.append(manager)
    assert sum(t.info.label == softhsm.TOKEN_LABEL for t in manager.tokens()) == 2  # seen twice
    entries = manager.entries()
    fingerprints = [e.fingerprint for e in entries]
    assert len(fingerprints) == len(set(fingerprints))
    assert {e.token.module for e in entries if e.token.label == softhsm.TOKEN_LABEL} == {softhsm_module}
    # Preference follows the rank, not the order of the modules.
    swapped = TokenManager([Pkcs11Backend([softhsm_module, modules["pinpad"]], ranks={modules["pinpad"]: 0})])
    managers.append(swapped)
    assert {e.token.module for e in swapped.entries() if e.token.label == softhsm.TOKEN_LABEL} == {modules["pinpad"]}


def test_pinpad_reader_gets_a_notice_not_a_pin_dialog(
    modules: dict[str, str], managers: list[TokenManager], tmp_path: Path
) -> None:
    manager = TokenManager([Pkcs11Backend([modules["pinpad"]])])
    managers.append(manager)
    [token] = [t for t in manager.tokens() if t.info.label == softhsm.TOKEN_LABEL]
    assert token.info.protected_auth_path
    ui = RecordingUI({})  # knows no PIN: any dialog would fail the test
    ctx = OperationContext("https://marches.example.fr", ui, manager, Config(), TokenExecutor())
    prompt = ctx.pin_prompt()
    plain = next(e for e in token.certificates() if e.label == "sign-ec256")
    signature = token.sign_raw(plain, b"pli", SignScheme.ECDSA, Digest.SHA256, prehashed=False, prompt=prompt)
    _verify(plain, b"pli", signature, tmp_path)
    assert ui.notices == [pinpad_notice(PinRequest(token.info, token.pin_status()))]
    assert ui.pin_requests == []
    # CKA_ALWAYS_AUTHENTICATE key: the context-specific login is a null PIN too, with its own notice.
    qualified = next(e for e in token.certificates() if e.label == "sign-rsa3072")
    signature = token.sign_raw(
        qualified, b"acte", SignScheme.RSA_PKCS1V15, Digest.SHA256, prehashed=False, prompt=prompt
    )
    _verify(qualified, b"acte", signature, tmp_path)
    assert len(ui.notices) == 2 and ui.pin_requests == []


def test_pinpad_notice_is_french_by_default(modules: dict[str, str], managers: list[TokenManager]) -> None:
    from sceau.i18n import gettext

    manager = TokenManager([Pkcs11Backend([modules["pinpad-b"]])])
    managers.append(manager)
    [token] = manager.tokens()
    assert token.info.protected_auth_path and token.info.label == CARD_LABEL
    english = pinpad_notice(PinRequest(token.info, token.pin_status()))
    assert english == f"Enter the PIN on the reader ({CARD_LABEL})."
    french = gettext("Enter the PIN on the reader ({name}).", "fr").format(name=CARD_LABEL)
    assert french == f"Saisissez le code PIN sur le lecteur ({CARD_LABEL})."


async def test_module_stuck_in_c_sign_times_out_and_the_other_token_keeps_signing(
    softhsm_module: str,
    modules: dict[str, str],
    managers: list[TokenManager],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(LANES, "timeout", 1.5)
    manager = TokenManager([Pkcs11Backend([softhsm_module, modules["hang"]])])
    managers.append(manager)
    ui = RecordingUI({softhsm.TOKEN_LABEL: softhsm.USER_PIN, CARD_LABEL: CARD_PIN})
    ctx = OperationContext("https://marches.example.fr", ui, manager, Config(), TokenExecutor())
    entries = await ctx.blocking(lambda: manager.entries(Role.SIGN))
    stuck = next(e for e in entries if e.token.label == CARD_LABEL)
    good = next(e for e in entries if e.label == "sign-ec256" and e.token.label == softhsm.TOKEN_LABEL)
    stuck_token, good_token = manager.token_of(stuck), manager.token_of(good)

    def sign(entry: CertificateEntry) -> bytes:
        token = manager.token_of(entry)
        return token.sign_raw(entry, b"lot", SignScheme.ECDSA, Digest.SHA256, prehashed=False, prompt=ui.ask_pin)

    started = time.monotonic()
    hung = asyncio.ensure_future(ctx.blocking(lambda: sign(stuck), stuck_token))
    # While the card module hangs, token A signs (its own module thread).
    await asyncio.sleep(0.3)
    signature = await asyncio.wait_for(ctx.blocking(lambda: sign(good), good_token), 10)
    _verify(good, b"lot", signature, tmp_path)
    assert not hung.done()
    with pytest.raises(Timeout) as caught:
        await hung
    elapsed = time.monotonic() - started
    assert caught.value.code is ErrorCode.TIMEOUT and modules["hang"] in caught.value.message
    assert 1.4 <= elapsed < 10, elapsed  # the limit, not the 30 s default; PIN prompt time does not count
    # The stuck module is put aside: a next call fails at once, listing still serves token A.
    t0 = time.monotonic()
    with pytest.raises(Timeout):
        await ctx.blocking(lambda: sign(stuck), stuck_token)
    assert time.monotonic() - t0 < 0.5
    manager.invalidate()
    labels = {e.token.label for e in await ctx.blocking(lambda: manager.entries(Role.SIGN))}
    assert softhsm.TOKEN_LABEL in labels and CARD_LABEL not in labels
    assert any(modules["hang"] in err for err in manager.errors)


async def test_time_spent_in_the_pin_dialog_is_not_module_time(
    modules: dict[str, str], managers: list[TokenManager], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(LANES, "timeout", 1.0)

    class SlowUser(RecordingUI):
        def ask_pin(self, request: PinRequest) -> str:
            time.sleep(1.5)  # longer than the module limit: the user is slow, the module is not stuck
            return super().ask_pin(request)

    manager = TokenManager([Pkcs11Backend([modules["B"]])])
    managers.append(manager)
    ui = SlowUser({CARD_LABEL: CARD_PIN})
    ctx = OperationContext("https://marches.example.fr", ui, manager, Config(), TokenExecutor())
    [entry] = await ctx.blocking(lambda: manager.entries(Role.SIGN))
    token = manager.token_of(entry)
    started = time.monotonic()
    signature = await ctx.blocking(
        lambda: token.sign_raw(entry, b"lent", SignScheme.ECDSA, Digest.SHA256, prehashed=False, prompt=ui.ask_pin),
        token,
    )
    assert time.monotonic() - started >= 1.5 and len(ui.pin_requests) == 1
    _verify(entry, b"lent", signature, tmp_path)
