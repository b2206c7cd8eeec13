"""PKCS#11 tokens through python-pkcs11 (SoftHSM2, OpenSC, vendor middleware).

Hashing is done in software and the token gets raw mechanisms (CKM_RSA_PKCS with a DigestInfo,
CKM_RSA_PKCS_PSS, CKM_ECDSA): every card supports those, while hash-and-sign mechanisms vary.
Calls block; callers use the executor. One logged-in session per token, guarded by a lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import pkcs11
import pkcs11.exceptions as p11e
from cryptography import x509
from pkcs11 import MGF, Attribute, KeyType, Mechanism, ObjectClass, TokenFlag

from sceau.errors import (
    InvalidInput,
    NoCertificate,
    PinLocked,
    SceauError,
    TokenRemoved,
    Unsupported,
)
from sceau.i18n import _
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
from sceau.tokens.executor import LANES, user_wait
from sceau.tokens.module_host import HOSTS
from sceau.tokens.oaep import oaep_decode
from sceau.tokens.pkcs11_lib import (
    DIGEST_INFO,
    PSS_PARAMS,
    hosted_stale,
    load_module,
    reconnect_module,
    status_from_flags,
    stop_hung_host,
    token_errors,
    unload_module,
)

log = logging.getLogger(__name__)
LANES.on_stuck.append(stop_hung_host)

MAX_LOGIN_ATTEMPTS = 10  # the prompt is asked again after a wrong PIN; the token itself locks first
RELEASE_GRACE_S = 10.0  # a module loaded for a card that shows no token yet is kept this long
LOGOUT_WAIT_S = 2.0  # a logout waits this long for a call in progress on the token

# PKCS#11 login state belongs to the process, not to a session: one logged-in session per token,
# shared by every Pkcs11Token object of that token, so a second object never "logs in" with an
# unchecked PIN (C_Login would answer CKR_USER_ALREADY_LOGGED_IN whatever the PIN).
_SESSIONS: dict[str, Any] = {}
_SESSIONS_LOCK = threading.Lock()


def _is_end_entity(cert: x509.Certificate) -> bool:
    try:
        return not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return True


def _ask(prompt: PinPrompt, request: PinRequest) -> str:
    """The prompt, with the module's call clock stopped (the user's time is not a stuck module)."""
    with user_wait():
        return prompt(request)


class Pkcs11Token(Token):
    def __init__(self, module: str, p11token: Any, rank: int = 1) -> None:
        self._module = module
        self.rank = rank
        self._token = p11token
        raw_serial = p11token.serial
        serial = raw_serial.decode(errors="replace") if isinstance(raw_serial, bytes) else str(raw_serial)
        self.info = TokenInfo(
            token_id=f"pkcs11:{module}:{serial}:{p11token.label}",
            label=p11token.label,
            backend="pkcs11",
            manufacturer=p11token.manufacturer_id,
            model=p11token.model,
            serial=serial,
            module=module,
            protected_auth_path=bool(p11token.flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH),
        )
        self._lock = threading.RLock()
        self._session: Any = None  # logged-in session
        self._entries: list[CertificateEntry] | None = None
        self._keys: dict[str, Any] = {}
        self._always: dict[int, bool] = {}
        self.released = False  # its module was unloaded (card gone): no call may reach it any more

    def _alive(self) -> None:
        if self.released:  # the objects of an unloaded module point into freed memory
            raise TokenRemoved(_("The token was removed during the operation."))

    # -- enumeration -------------------------------------------------------------------------
    def certificates(self) -> list[CertificateEntry]:
        def read() -> list[CertificateEntry]:
            with self._lock, token_errors(self._module):
                self._alive()
                if self._entries is None:
                    self._entries = self._read_certificates()
                return list(self._entries)

        return LANES.call(self._module, read)

    def cached_certificates(self) -> list[CertificateEntry] | None:
        # The list is replaced, never changed in place: reading the reference needs no lock.
        entries = self._entries
        return None if entries is None or self.released else list(entries)

    def _read_certificates(self) -> list[CertificateEntry]:
        entries: list[CertificateEntry] = []
        others: list[x509.Certificate] = []
        session = self._session or self._token.open()
        try:
            for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
                try:
                    cert = x509.load_der_x509_certificate(obj[Attribute.VALUE])
                except ValueError:
                    continue  # a corrupt object must not hide the others
                key_id = bytes(obj[Attribute.ID] or b"")
                if _is_end_entity(cert) and key_id:
                    label = obj[Attribute.LABEL] or cert.subject.rfc4514_string()
                    entries.append(CertificateEntry(self.info, key_id.hex(), label, cert))
                else:
                    others.append(cert)
        finally:
            if session is not self._session:
                session.close()
        if others:
            entries = [
                CertificateEntry(e.token, e.key_ref, e.label, e.certificate, chain=tuple(others)) for e in entries
            ]
        return entries

    def pin_status(self) -> PinStatus:
        with token_errors(self._module):
            self._alive()
            fresh = self._fresh_token()
            return status_from_flags(fresh.flags)

    def _fresh_token(self) -> Any:
        """Re-read the token info (flags change after failed logins)."""
        slot = self._token.slot
        return slot.get_token()

    # -- login -------------------------------------------------------------------------------
    def is_logged_in(self) -> bool:
        return self._session is not None and _SESSIONS.get(self.info.token_id) is self._session

    def _adopt(self, session: Any) -> None:
        with _SESSIONS_LOCK:
            _SESSIONS[self.info.token_id] = session
        self._session = session

    def login(self, prompt: PinPrompt) -> None:
        with self._lock, token_errors(self._module):
            self._alive()
            shared = _SESSIONS.get(self.info.token_id)
            if self._session is not None and self._session is shared:
                return
            if self._session is not None:  # another object logged out since: our handles are stale
                self._session = None
                self._keys.clear()
                self._always.clear()
            if shared is not None:
                self._session = shared
                return
            retry = False
            for _attempt in range(MAX_LOGIN_ATTEMPTS):
                status = self.pin_status()
                if status.locked:
                    raise PinLocked(
                        _(
                            "The PIN of {name} is locked. Unlock it with your PUK or contact your certificate provider."
                        ).format(name=self.info.label)
                    )
                pinpad = self.info.protected_auth_path
                pin = _ask(prompt, PinRequest(self.info, status, retry=retry, pinpad=pinpad))
                try:
                    if pinpad:  # the reader asks for the PIN: C_Login with a NULL PIN, time is the user's
                        with user_wait():
                            self._adopt(self._token.open(user_pin=pkcs11.PROTECTED_AUTH))
                    else:
                        self._adopt(self._token.open(user_pin=pin))
                    return
                except (p11e.PinIncorrect, p11e.PinLenRange):
                    retry = True
                except p11e.UserAlreadyLoggedIn:
                    # Logged in outside our registry: the PIN just typed was not checked, so it
                    # must not unlock anything.
                    raise SceauError(_("The token is already unlocked by another component; try again.")) from None
            raise PinLocked(_("Too many wrong PINs."))

    def logout(self) -> None:
        if not self._lock.acquire(timeout=LOGOUT_WAIT_S):
            # A call is stuck in the module (or still waiting for the user): forget the login without
            # touching the module, so removal handling and shutdown never hang on it.
            with _SESSIONS_LOCK:
                if self._session is not None and _SESSIONS.get(self.info.token_id) is self._session:
                    del _SESSIONS[self.info.token_id]
            log.warning("token %s busy: its login is forgotten without a C_Logout", self.info.label)
            return
        try:
            self._logout_locked()
        finally:
            self._lock.release()

    def _logout_locked(self) -> None:
        if self._session is not None:
            with _SESSIONS_LOCK:
                if _SESSIONS.get(self.info.token_id) is self._session:
                    del _SESSIONS[self.info.token_id]
            if not self.released:
                with contextlib.suppress(p11e.PKCS11Error):  # token already gone: nothing to log out
                    self._session.close()
            self._session = None
        self._keys.clear()
        self._always.clear()
        self._entries = None

    close = logout

    # -- private-key operations -----------------------------------------------------------------
    def _private_key(self, entry: CertificateEntry, prompt: PinPrompt) -> Any:
        self.login(prompt)
        if entry.key_ref not in self._keys:
            keys = list(
                self._session.get_objects(
                    {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: bytes.fromhex(entry.key_ref)}
                )
            )
            if not keys:
                raise NoCertificate(_("The private key of {label} is not on the token.").format(label=entry.label))
            self._keys[entry.key_ref] = keys[0]
        return self._keys[entry.key_ref]

    def _capable(self, entry: CertificateEntry, key: Any, method: str) -> Any:
        """python-pkcs11 only gives keys the methods their attributes allow (CKA_SIGN, CKA_DECRYPT,
        CKA_DERIVE): a key not allowed to do this is a clear error, not an AttributeError."""
        if not hasattr(key, method):
            raise Unsupported(
                _("The key of {label} is not allowed to do this operation on the token.").format(label=entry.label)
            )
        return key

    def _context_pin(self, key: Any, prompt: PinPrompt) -> str | None:
        """The PIN again for CKA_ALWAYS_AUTHENTICATE keys (qualified-signature cards)."""
        handle = id(key)
        if handle not in self._always:  # one attribute read per key, not per signature
            try:
                self._always[handle] = bool(key[Attribute.ALWAYS_AUTHENTICATE])
            except (p11e.AttributeTypeInvalid, p11e.AttributeSensitive):
                self._always[handle] = False
        if not self._always[handle]:
            return None
        pinpad = self.info.protected_auth_path
        pin = _ask(prompt, PinRequest(self.info, self.pin_status(), context_specific=True, pinpad=pinpad))
        # PIN pad: "" makes python-pkcs11 send C_Login(CKU_CONTEXT_SPECIFIC) with an empty PIN, read on the reader.
        return "" if pinpad else pin

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
        hashed = data if prehashed else digest.digest(data)
        if len(hashed) != digest.size:
            raise InvalidInput(_("The digest length does not match {alg}.").format(alg=digest.value))
        if scheme is SignScheme.RSA_PKCS1V15:
            mech, param, payload = Mechanism.RSA_PKCS, None, DIGEST_INFO[digest] + hashed
        elif scheme is SignScheme.RSA_PSS:
            mech, param, payload = Mechanism.RSA_PKCS_PSS, PSS_PARAMS[digest], hashed
        elif scheme is SignScheme.ECDSA:
            mech, param, payload = Mechanism.ECDSA, None, hashed
        else:  # pragma: no cover - enum is closed
            raise Unsupported(str(scheme))
        with self._lock, token_errors(self._module):
            self._alive()
            key = self._capable(entry, self._private_key(entry, prompt), "sign")
            pin = self._context_pin(key, prompt)
            for attempt in range(MAX_LOGIN_ATTEMPTS):
                try:
                    return bytes(key.sign(payload, mechanism=mech, mechanism_param=param, pin=pin))
                except p11e.PinIncorrect:
                    if attempt + 1 >= MAX_LOGIN_ATTEMPTS:
                        raise
                    pinpad = self.info.protected_auth_path
                    request = PinRequest(self.info, self.pin_status(), retry=True, context_specific=True, pinpad=pinpad)
                    answer = _ask(prompt, request)
                    pin = "" if pinpad else answer
                except p11e.UserNotLoggedIn:
                    # Session lost (token reset): log in again once.
                    self.logout()
                    key = self._private_key(entry, prompt)
            raise PinLocked(_("Too many wrong PINs."))

    def decrypt_raw(
        self, entry: CertificateEntry, ciphertext: bytes, padding: RsaDecryptPadding, *, prompt: PinPrompt
    ) -> bytes:
        if padding is RsaDecryptPadding.PKCS1V15:
            mech, param = Mechanism.RSA_PKCS, None
        elif padding is RsaDecryptPadding.OAEP_SHA1:
            mech, param = Mechanism.RSA_PKCS_OAEP, (Mechanism.SHA_1, MGF.SHA1, None)
        else:
            mech, param = Mechanism.RSA_PKCS_OAEP, (Mechanism.SHA256, MGF.SHA256, None)
        with self._lock, token_errors(self._module):
            self._alive()
            key = self._capable(entry, self._private_key(entry, prompt), "decrypt")
            pin = self._context_pin(key, prompt)
            try:
                try:
                    return bytes(key.decrypt(ciphertext, mechanism=mech, mechanism_param=param, pin=pin))
                except (p11e.ArgumentsBad, p11e.MechanismParamInvalid, p11e.MechanismInvalid):
                    if padding is not RsaDecryptPadding.OAEP_SHA256:
                        raise
                # The module has no OAEP-SHA256: raw RSA on the token, padding checked here.
                if pin is not None:
                    pin = self._context_pin(key, prompt)
                raw = bytes(key.decrypt(ciphertext, mechanism=Mechanism.RSA_X_509, pin=pin))
                plain = oaep_decode(raw, (entry.key_size + 7) // 8, "sha256")
                if plain is None:
                    raise InvalidInput(_("Decryption failed."))
                return plain
            except (
                p11e.EncryptedDataInvalid,
                p11e.EncryptedDataLenRange,
                p11e.DataInvalid,
                p11e.DataLenRange,
                p11e.FunctionFailed,
                p11e.GeneralError,
            ):
                # One error for every padding failure: no oracle.
                raise InvalidInput(_("Decryption failed.")) from None

    def derive_ecdh(self, entry: CertificateEntry, peer_public_point: bytes, *, prompt: PinPrompt) -> bytes:
        if entry.key_type != "ec":
            raise Unsupported(_("ECDH needs an EC key."))
        size = (entry.key_size + 7) // 8
        template = {Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True, Attribute.TOKEN: False}
        with self._lock, token_errors(self._module):
            self._alive()
            key = self._capable(entry, self._private_key(entry, prompt), "derive_key")
            pin = self._context_pin(key, prompt)
            if pin is not None:
                self._session.reaffirm_credentials(pin)
            # Some modules want the raw point, others a DER OCTET STRING around it (PKCS#11 §2.3.6).
            wrapped = bytes([0x04, len(peer_public_point)]) + peer_public_point
            for point in (peer_public_point, wrapped):
                try:
                    secret = key.derive_key(
                        KeyType.GENERIC_SECRET,
                        size * 8,
                        mechanism=Mechanism.ECDH1_DERIVE,
                        mechanism_param=(pkcs11.KDF.NULL, None, point),
                        template=template,
                    )
                    return bytes(secret[Attribute.VALUE])
                except (p11e.MechanismParamInvalid, p11e.ArgumentsBad, p11e.DomainParamsInvalid):
                    continue
            raise InvalidInput(_("Invalid ephemeral public key."))


class Pkcs11Backend(TokenBackend):
    """Every token present in the configured / discovered modules, and in the modules loaded at run
    time for an inserted card (`add_modules`), which are released again when their last token is gone.

    Each module is enumerated on its own thread with a time limit (`tokens.executor.LANES`): a module
    that does not answer is reported in `errors` and skipped, the others are listed."""

    name = "pkcs11"
    priority = 10

    def __init__(
        self, modules: Sequence[str], *, ranks: Mapping[str, int] | None = None, isolate: bool = False
    ) -> None:
        self.modules = list(dict.fromkeys(modules))
        self.isolate = isolate  # each module in a host process of its own (`tokens.module_host`)
        self._card_changed: set[str] = set()  # hosted modules to connect again (a card was inserted)
        self.ranks = dict(ranks or {})
        self.runtime: set[str] = set()  # loaded for an inserted card
        self._added_at: dict[str, float] = {}
        self._had_tokens: set[str] = set()
        self.errors: list[str] = []
        self._tokens: dict[str, Pkcs11Token] = {}
        self._by_module: dict[str, weakref.WeakSet[Pkcs11Token]] = {}
        self._lock = threading.Lock()

    def viable(self) -> bool:
        return True  # a card inserted later may bring its module (`add_modules`)

    def add_modules(self, paths: Sequence[str], rank: int = 1) -> list[str]:
        """Modules for an inserted card (installed ones not loaded yet); loaded at the next `tokens()`."""
        added = []
        with self._lock:
            known = {os.path.realpath(m) for m in self.modules}
            for path in paths:
                if os.path.realpath(path) in known or not os.path.isfile(path):
                    continue
                known.add(os.path.realpath(path))
                self.modules.append(path)
                self.runtime.add(path)
                self._added_at[path] = time.monotonic()
                self.ranks.setdefault(path, rank)
                added.append(path)
        if added:
            log.info("PKCS#11 modules for the inserted card: %s", ", ".join(added))
        return added

    def _enumerate(self, module: str) -> list[Pkcs11Token]:
        if hosted_stale(module):
            log.warning("PKCS#11 module %s: its host process died; starting it again", module)
            self._reconnect(module)
        elif module in self._card_changed:
            self._reconnect(module)
        self._card_changed.discard(module)
        lib = load_module(module, isolate=self.isolate)
        out = []
        with token_errors(module):
            for slot in lib.get_slots(token_present=True):
                p11 = slot.get_token()
                if not p11.flags & TokenFlag.TOKEN_INITIALIZED:
                    continue
                tok = Pkcs11Token(module, p11, self.ranks.get(module, 1))
                # Keep the existing object (and its login) when the same token is still present.
                kept = self._tokens.setdefault(tok.info.token_id, tok)
                self._by_module.setdefault(module, weakref.WeakSet()).add(kept)
                out.append(kept)
        return out

    def tokens(self) -> list[Token]:
        found: list[Token] = []
        self.errors = []
        empty: list[str] = []
        for module in list(self.modules):
            try:
                here = LANES.call(module, lambda m=module: self._enumerate(m))  # type: ignore[misc]
            except SceauError as exc:
                self.errors.append(exc.message)
                if module in self.runtime and not LANES.hung(module):
                    self._forget(module)  # a card's module that does not load: not retried at every listing
                if len(self.modules) == 1 and not self.runtime:
                    raise
                continue
            found.extend(here)
            if here:
                self._had_tokens.add(module)
            elif module in self._had_tokens or time.monotonic() - self._added_at.get(module, 0) > RELEASE_GRACE_S:
                # Its token is gone — or it never showed one (a middleware may see the card a moment
                # after PC/SC does: it gets RELEASE_GRACE_S before it is released).
                empty.append(module)
        present = {t.info.token_id for t in found}
        for tid in [t for t in self._tokens if t not in present]:
            self._tokens.pop(tid).logout()  # removed: its login state goes with it
        for module in empty:
            if module in self.runtime and LANES.idle(module):
                self._forget(module)
                LANES.call(module, lambda m=module: self._release(m))  # type: ignore[misc]
                log.info("PKCS#11 module released (no token left): %s", module)
        return found

    def card_inserted(self) -> None:
        """A card was inserted: p11-kit's server serves the slots that had a token when its process
        started, so hosted modules already loaded connect a fresh process at the next listing."""
        if self.isolate:
            with self._lock:
                self._card_changed.update(m for m in self.modules if HOSTS.get(m) is not None)

    def _reconnect(self, module: str) -> None:
        """On the module's lane: its host process died (or is replaced after a card insertion) — its
        tokens and their logins are gone (their objects refuse further calls), then a fresh host
        process is connected."""
        for token in list(self._by_module.pop(module, ())):
            token.logout()
            token.released = True
            if self._tokens.get(token.info.token_id) is token:
                del self._tokens[token.info.token_id]
        reconnect_module(module)

    def _release(self, module: str) -> None:
        """On the module's lane: mark its token objects released, then unload it."""
        for token in list(self._by_module.pop(module, ())):
            token.released = True
        unload_module(module)

    def _forget(self, module: str) -> None:
        self._had_tokens.discard(module)
        with self._lock:
            if module in self.modules:
                self.modules.remove(module)
            self.runtime.discard(module)

    def close(self) -> None:
        for tok in self._tokens.values():
            tok.logout()
        self._tokens.clear()
