"""The token interface every backend implements, and what it exposes about certificates.

Backends never prompt: the caller passes a `PinPrompt` (see `sceau.ui.api`) and the backend
calls it when the token needs a PIN, reporting the token's PIN status so the dialog can warn.
All methods block (PKCS#11 calls do): async callers use `sceau.tokens.executor`.
"""

from __future__ import annotations

import base64
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from sceau.protocol.codes import Role


class Digest(StrEnum):
    """Hash algorithms accepted for signatures (SHA-1: see `SIGNING_DIGESTS`)."""

    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"
    # Legacy: only for the CMS an ACTES page asks over a SHA-1 digest it computed (`sign-digests`).
    SHA1 = "sha1"

    @property
    def size(self) -> int:
        return {"sha256": 32, "sha384": 48, "sha512": 64, "sha1": 20}[self.value]

    def hash(self) -> hashes.HashAlgorithm:
        if self is Digest.SHA1:
            return hashes.SHA1()  # noqa: S303 - legacy ACTES CMS only, never offered for new formats
        if self is Digest.SHA256:
            return hashes.SHA256()
        if self is Digest.SHA384:
            return hashes.SHA384()
        return hashes.SHA512()

    def digest(self, data: bytes) -> bytes:
        return hashlib.new(self.value, data).digest()

    def digest_file(self, path: Path, chunk: int = 1 << 20) -> bytes:
        """Hash a file as a stream: large bids are never loaded in memory."""
        h = hashlib.new(self.value)
        with open(path, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
        return h.digest()


# What a page or the CLI may choose for the signatures Sceau builds (never SHA-1).
SIGNING_DIGESTS = (Digest.SHA256, Digest.SHA384, Digest.SHA512)


class SignScheme(StrEnum):
    """Signature schemes. ECDSA signatures are returned raw (r ‖ s, fixed width), as tokens give them."""

    RSA_PKCS1V15 = "rsa-pkcs1v15"
    RSA_PSS = "rsa-pss"
    ECDSA = "ecdsa"


class RsaDecryptPadding(StrEnum):
    PKCS1V15 = "pkcs1v15"
    OAEP_SHA1 = "oaep-sha1"
    OAEP_SHA256 = "oaep-sha256"


@dataclass(frozen=True)
class PinStatus:
    """PIN state as the token reports it (PKCS#11 token flags)."""

    initialized: bool = True
    count_low: bool = False
    final_try: bool = False
    locked: bool = False
    # Some tokens (and PKCS#12 files) cannot tell; None means unknown.
    retries_left: int | None = None


@dataclass(frozen=True)
class TokenInfo:
    """A token (or PKCS#12 file) as the user knows it."""

    token_id: str  # stable within a process: backend + slot/serial or file path
    label: str
    backend: str  # "pkcs11" / "pkcs12"
    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    module: str = ""  # PKCS#11 module path or PKCS#12 file path
    protected_auth_path: bool = False  # pinpad reader: the PIN is typed on the reader


@dataclass(frozen=True)
class PinRequest:
    """What a PIN prompt is told."""

    token: TokenInfo
    status: PinStatus
    retry: bool = False  # the previous attempt was wrong
    context_specific: bool = False  # CKA_ALWAYS_AUTHENTICATE key: PIN confirms this one operation
    is_password: bool = False  # PKCS#12 password rather than a token PIN
    # PIN-pad reader (CKF_PROTECTED_AUTHENTICATION_PATH): the PIN is typed on the reader; the prompt
    # shows a notice, no dialog, and returns "" (see `sceau.ui.api.pinpad_aware`).
    pinpad: bool = False


# A PIN prompt returns the PIN, or raises `sceau.errors.UserCancelled` / `Timeout`.
PinPrompt = Callable[[PinRequest], str]


def roles_of(cert: x509.Certificate) -> frozenset[Role]:
    """Classify a certificate by keyUsage / extendedKeyUsage.

    - sign: nonRepudiation (contentCommitment), the RGS / eIDAS signature certificate profile;
    - auth: digitalSignature without nonRepudiation, or EKU clientAuth;
    - encrypt: keyEncipherment, dataEncipherment or keyAgreement.
    A certificate with no keyUsage is usable for everything its EKU allows.
    """
    roles: set[Role] = set()
    try:
        ku: x509.KeyUsage | None = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    try:
        eku: x509.ExtendedKeyUsage | None = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    eku_set = set(eku) if eku is not None else set()
    if ku is None:
        roles.update({Role.SIGN, Role.AUTH, Role.ENCRYPT})
    else:
        if ku.content_commitment:
            roles.add(Role.SIGN)
        if ku.digital_signature and not ku.content_commitment:
            roles.add(Role.AUTH)
        if ku.key_encipherment or ku.data_encipherment or ku.key_agreement:
            roles.add(Role.ENCRYPT)
    if eku is not None:
        if ExtendedKeyUsageOID.CLIENT_AUTH in eku_set and (ku is None or ku.digital_signature):
            roles.add(Role.AUTH)
        elif ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku_set:
            roles.discard(Role.AUTH)
    return frozenset(roles)


@dataclass(frozen=True)
class CertificateEntry:
    """A certificate on a token with a private key next to it."""

    token: TokenInfo
    key_ref: str  # backend-specific: hex CKA_ID on PKCS#11, index in the file for PKCS#12
    label: str
    certificate: x509.Certificate
    always_authenticate: bool = False
    chain: Sequence[x509.Certificate] = field(default=(), compare=False)

    @cached_property
    def der(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self.certificate.public_bytes(Encoding.DER)

    @cached_property
    def der_b64(self) -> str:
        """The certificate as pages receive it (each listing and signature carries it)."""
        return base64.b64encode(self.der).decode()

    @cached_property
    def chain_b64(self) -> tuple[str, ...]:
        from cryptography.hazmat.primitives.serialization import Encoding

        return tuple(base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in self.chain)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate, hex."""
        return hashlib.sha256(self.der).hexdigest()

    @cached_property
    def roles(self) -> frozenset[Role]:
        return roles_of(self.certificate)

    @property
    def key_type(self) -> str:
        key = self.certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            return "rsa"
        if isinstance(key, ec.EllipticCurvePublicKey):
            return "ec"
        return "other"

    @property
    def key_size(self) -> int:
        key = self.certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            return key.key_size
        return 0

    @cached_property
    def subject_cn(self) -> str:
        return (
            _name_attr(self.certificate.subject, x509.NameOID.COMMON_NAME) or self.certificate.subject.rfc4514_string()
        )

    @cached_property
    def issuer_cn(self) -> str:
        return _name_attr(self.certificate.issuer, x509.NameOID.COMMON_NAME) or self.certificate.issuer.rfc4514_string()

    def is_valid_at(self, when: datetime | None = None) -> bool:
        when = when or datetime.now(UTC)
        return self.certificate.not_valid_before_utc <= when <= self.certificate.not_valid_after_utc

    def summary(self) -> dict[str, object]:
        """JSON-able description for the page and the CLI (no key material, of course)."""
        c = self.certificate
        org = _name_attr(c.subject, x509.NameOID.ORGANIZATION_NAME)
        return {
            "id": self.handle,
            "subject": c.subject.rfc4514_string(),
            "commonName": self.subject_cn,
            "organization": org,
            "issuer": c.issuer.rfc4514_string(),
            "issuerCommonName": self.issuer_cn,
            "serialNumber": format(c.serial_number, "x"),
            "notBefore": c.not_valid_before_utc.isoformat(),
            "notAfter": c.not_valid_after_utc.isoformat(),
            "roles": sorted(r.value for r in self.roles),
            "keyType": self.key_type,
            "keySize": self.key_size,
            "fingerprintSha256": self.fingerprint,
            "token": self.token.label,
            "valid": self.is_valid_at(),
        }

    @property
    def handle(self) -> str:
        """Opaque, stable reference a page may send back to pick this certificate."""
        return self.fingerprint[:32]


def _name_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attrs = name.get_attributes_for_oid(oid)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


class Token(ABC):
    """One token (smart card, USB key, HSM slot, PKCS#12 file).

    Login state is kept by the token object; `login` is idempotent. Methods that use a
    private key log in through `prompt` when needed and handle CKA_ALWAYS_AUTHENTICATE.
    """

    info: TokenInfo
    rank = 1  # lower wins when one certificate is seen through two tokens (configured/vendor module first)

    @abstractmethod
    def certificates(self) -> list[CertificateEntry]:
        """Certificates that have a matching private key on this token."""

    def cached_certificates(self) -> list[CertificateEntry] | None:
        """`certificates()` when known without calling the token (safe on the event loop), else None."""
        return None

    @abstractmethod
    def pin_status(self) -> PinStatus:
        """Current PIN flags (a fresh read from the token)."""

    @abstractmethod
    def login(self, prompt: PinPrompt) -> None:
        """Log in, asking `prompt` for the PIN; a wrong PIN asks again with `retry=True`.

        Raises PinLocked, UserCancelled, WrongPin (prompt gave up after a wrong PIN), TokenRemoved.
        """

    @abstractmethod
    def is_logged_in(self) -> bool:
        """True when a private-key operation needs no further PIN (except context-specific ones)."""

    @abstractmethod
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
        """Sign `data` (or the digest `data` when `prehashed`).

        RSA-PSS uses MGF1 with the same hash and a salt as long as the hash.
        ECDSA returns r ‖ s (each the curve's byte length).
        """

    @abstractmethod
    def decrypt_raw(
        self, entry: CertificateEntry, ciphertext: bytes, padding: RsaDecryptPadding, *, prompt: PinPrompt
    ) -> bytes:
        """RSA-decrypt a key-transport block (CMS ktri)."""

    @abstractmethod
    def derive_ecdh(self, entry: CertificateEntry, peer_public_point: bytes, *, prompt: PinPrompt) -> bytes:
        """ECDH: the shared secret Z with the peer's uncompressed point (CMS kari; KDF done by the caller)."""

    def logout(self) -> None:  # noqa: B027 - optional for backends without sessions
        """Forget the login (tray "Verrouiller", token removal)."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release the token's resources."""


class TokenBackend(ABC):
    """A source of tokens, with a priority and a viability check (keyring-style)."""

    name: str = "abstract"
    priority: int = 0

    @abstractmethod
    def viable(self) -> bool:
        """Whether this backend can work here (module present, library importable...)."""

    @abstractmethod
    def tokens(self) -> list[Token]:
        """The tokens currently present."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release modules and sessions."""


def scheme_for(entry: CertificateEntry, preferred: SignScheme | None = None) -> SignScheme:
    """The signature scheme to use with a key: ECDSA for EC keys, PKCS#1 v1.5 unless PSS is asked."""
    if entry.key_type == "ec":
        return SignScheme.ECDSA
    if preferred in (SignScheme.RSA_PSS, SignScheme.RSA_PKCS1V15):
        return preferred
    return SignScheme.RSA_PKCS1V15
