"""PKCS#12 (.p12/.pfx) files as tokens. The password comes through the same prompt as a PIN."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from sceau.crypto.certfile import load_certificate as load_certificate  # re-exported for its callers
from sceau.errors import InvalidInput, NoToken, UserCancelled
from sceau.i18n import _
from sceau.tokens import softkeys
from sceau.tokens.base import (
    CertificateEntry,
    Digest,
    PinPrompt,
    PinRequest,
    PinStatus,
    RsaDecryptPadding,
    SignScheme,
    Token,
    TokenBackend,
    TokenInfo,
)

MAX_P12_SIZE = 1 << 20  # real files are a few KB; refuse anything absurd before parsing
MAX_PASSWORD_ATTEMPTS = 5


class Pkcs12Token(Token):
    """One PKCS#12 file. Its certificate is readable only after the password, like most files."""

    def __init__(self, path: Path, password: str | None = None) -> None:
        self.path = Path(path)
        self.info = TokenInfo(
            token_id=f"pkcs12:{self.path.resolve()}",
            label=self.path.name,
            backend="pkcs12",
            module=str(self.path),
        )
        self._lock = threading.Lock()
        self._key: softkeys.PrivateKey | None = None
        self._entry: CertificateEntry | None = None
        self._password = password
        if not self.path.is_file():
            raise NoToken(_("PKCS#12 file not found: {path}").format(path=self.path))
        if self.path.stat().st_size > MAX_P12_SIZE:
            raise InvalidInput(_("{path} is too large to be a PKCS#12 file.").format(path=self.path))
        if password is not None:
            self._open(password)

    def _open(self, password: str) -> bool:
        """Load the file with `password`; False when the password is wrong."""
        if "\x00" in password:  # OpenSSL cannot take it; it cannot be the right password either
            return False
        data = self.path.read_bytes()
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
        except ValueError as exc:
            if "password" in str(exc).lower() or "mac" in str(exc).lower():
                return False
            raise InvalidInput(_("{path} is not a valid PKCS#12 file.").format(path=self.path.name)) from None
        if key is None or cert is None:
            raise InvalidInput(_("{path} holds no private key with its certificate.").format(path=self.path.name))
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise InvalidInput(_("{path}: only RSA and EC keys are supported.").format(path=self.path.name))
        self._key = key
        label = self.path.stem
        self._entry = CertificateEntry(self.info, "0", label, cert, chain=tuple(extra or ()))
        return True

    def _probe_structure(self) -> None:
        """Reject corrupt files with a clear message before asking for a password."""
        try:
            pkcs12.load_key_and_certificates(self.path.read_bytes(), b"sceau-structure-probe")
        except ValueError as exc:
            text = str(exc).lower()
            if "password" not in text and "mac" not in text:
                raise InvalidInput(_("{path} is not a valid PKCS#12 file.").format(path=self.path.name)) from None

    def certificates(self) -> list[CertificateEntry]:
        return [self._entry] if self._entry is not None else []

    def cached_certificates(self) -> list[CertificateEntry] | None:
        return [self._entry] if self._entry is not None else None  # None: locked, its password reveals it

    def pin_status(self) -> PinStatus:
        return PinStatus()

    def is_logged_in(self) -> bool:
        return self._key is not None

    def login(self, prompt: PinPrompt) -> None:
        with self._lock:
            if self._key is not None:
                return
            self._probe_structure()
            retry = False
            for _attempt in range(MAX_PASSWORD_ATTEMPTS):
                password = prompt(PinRequest(self.info, PinStatus(), retry=retry, is_password=True))
                if self._open(password):
                    return
                retry = True
            raise UserCancelled(_("Too many wrong passwords for {name}.").format(name=self.info.label))

    def _private_key(self, prompt: PinPrompt) -> softkeys.PrivateKey:
        self.login(prompt)
        assert self._key is not None
        return self._key

    def sign_raw(
        self,
        entry: CertificateEntry,
        data: bytes,
        scheme: SignScheme,
        digest: Digest,
        *,
        prehashed: bool,
        prompt: PinPrompt,
    ) -> bytes:
        return softkeys.sign(self._private_key(prompt), data, scheme, digest, prehashed)

    def decrypt_raw(
        self, entry: CertificateEntry, ciphertext: bytes, padding: RsaDecryptPadding, *, prompt: PinPrompt
    ) -> bytes:
        key = self._private_key(prompt)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise InvalidInput(_("This key cannot decrypt with RSA."))
        try:
            return key.decrypt(ciphertext, softkeys.rsa_padding(padding))
        except ValueError:
            # One error for every padding failure: no oracle.
            raise InvalidInput(_("Decryption failed.")) from None

    def derive_ecdh(self, entry: CertificateEntry, peer_public_point: bytes, *, prompt: PinPrompt) -> bytes:
        try:
            return softkeys.ecdh(self._private_key(prompt), peer_public_point)
        except ValueError:
            raise InvalidInput(_("Invalid ephemeral public key.")) from None

    def logout(self) -> None:
        with self._lock:
            if self._password is None:
                self._key = None

    def unlock_certificates(self, prompt: PinPrompt) -> list[CertificateEntry]:
        """Ask the password if needed and return the certificate (files hide it until then)."""
        self.login(prompt)
        return self.certificates()


class Pkcs12Backend(TokenBackend):
    """The PKCS#12 files the user configured (or passed on the command line)."""

    name = "pkcs12"
    priority = 5

    def __init__(self, paths: Sequence[Path] = (), passwords: dict[Path, str] | None = None) -> None:
        self._tokens: list[Pkcs12Token] = []
        self._paths = [Path(p) for p in paths]
        self._passwords = passwords or {}

    def viable(self) -> bool:
        return True

    def tokens(self) -> list[Token]:
        if not self._tokens:
            self._tokens = [Pkcs12Token(p, self._passwords.get(p)) for p in self._paths]
        return list(self._tokens)
