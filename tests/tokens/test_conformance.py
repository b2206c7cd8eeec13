"""The shared token conformance suite, run against SoftHSM2 (PKCS#11) and PKCS#12 files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sceau.devkit import pki as devpki
from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki
from sceau.tokens.base import PinPrompt, PinRequest, Token
from sceau.tokens.pkcs11 import Pkcs11Token
from sceau.tokens.pkcs12 import Pkcs12Token
from sceau.tokens.testing import TokenConformance


def _pin(request: PinRequest) -> str:
    assert not request.retry
    return devpki.P12_PASSWORD if request.is_password else softhsm.USER_PIN


class MultiFileToken(Token):
    """Several PKCS#12 files seen as one token so the shared tests find every identity by name."""

    def __init__(self, tokens: list[Pkcs12Token]) -> None:
        self.tokens = tokens
        self.info = tokens[0].info

    def _owner(self, entry):  # type: ignore[no-untyped-def]
        return next(t for t in self.tokens if entry in t.certificates())

    def certificates(self):  # type: ignore[no-untyped-def]
        return [e for t in self.tokens for e in t.certificates()]

    def pin_status(self):  # type: ignore[no-untyped-def]
        return self.tokens[0].pin_status()

    def login(self, prompt):  # type: ignore[no-untyped-def]
        for t in self.tokens:
            t.login(prompt)

    def is_logged_in(self) -> bool:
        return all(t.is_logged_in() for t in self.tokens)

    def sign_raw(self, entry, data, scheme, digest, *, prehashed, prompt):  # type: ignore[no-untyped-def]
        return self._owner(entry).sign_raw(entry, data, scheme, digest, prehashed=prehashed, prompt=prompt)

    def decrypt_raw(self, entry, ciphertext, padding, *, prompt):  # type: ignore[no-untyped-def]
        return self._owner(entry).decrypt_raw(entry, ciphertext, padding, prompt=prompt)

    def derive_ecdh(self, entry, peer_public_point, *, prompt):  # type: ignore[no-untyped-def]
        return self._owner(entry).derive_ecdh(entry, peer_public_point, prompt=prompt)


class TestPkcs11Conformance(TokenConformance):
    @pytest.fixture
    def token(self, p11_token: Pkcs11Token) -> Token:
        return p11_token

    @pytest.fixture
    def prompt(self) -> PinPrompt:
        return _pin


class TestPkcs12Conformance(TokenConformance):
    @pytest.fixture
    def token(self, pki: DevPki) -> Token:
        names = [s.name for s in devpki.SPECS if s.on_token]
        return MultiFileToken([Pkcs12Token(Path(pki[n].p12), devpki.P12_PASSWORD) for n in names])

    @pytest.fixture
    def prompt(self) -> PinPrompt:
        return _pin
