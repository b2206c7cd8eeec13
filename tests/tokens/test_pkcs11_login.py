"""PKCS#11 login state is per process: token objects share it, and no unchecked PIN unlocks anything."""

from __future__ import annotations

import pytest

from sceau.devkit import softhsm
from sceau.errors import UserCancelled, WrongPin
from sceau.tokens.base import Digest, PinRequest, SignScheme
from sceau.tokens.pkcs11 import Pkcs11Backend, Pkcs11Token
from sceau.ui.headless import HeadlessUI


def _token(module: str) -> tuple[Pkcs11Backend, Pkcs11Token]:
    backend = Pkcs11Backend([module])
    token = next(t for t in backend.tokens() if t.info.label == softhsm.TOKEN_LABEL)
    assert isinstance(token, Pkcs11Token)
    return backend, token


def _never(request: PinRequest) -> str:
    raise AssertionError("the PIN must not be asked again")


def test_second_object_shares_the_login_then_needs_the_right_pin(softhsm_module: str) -> None:
    b1, first = _token(softhsm_module)
    b2, second = _token(softhsm_module)
    try:
        first.login(HeadlessUI(pin=softhsm.USER_PIN).ask_pin)
        second.login(_never)  # same process: already logged in, no PIN asked
        entry = next(e for e in second.certificates() if e.label == "sign-ec256")
        assert second.sign_raw(entry, b"x", SignScheme.ECDSA, Digest.SHA256, prehashed=False, prompt=_never)
        first.logout()
        assert not second.is_logged_in()
        with pytest.raises(WrongPin):  # a wrong PIN is checked by the token, not waved through
            second.login(HeadlessUI(pin="000000").ask_pin)
        with pytest.raises(UserCancelled):
            second.login(HeadlessUI().ask_pin)  # no PIN source: refused, never a default PIN
    finally:
        b1.close()
        b2.close()
