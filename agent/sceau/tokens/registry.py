"""All token backends behind one object: enumerate, find certificates, invalidate on removal."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sceau.errors import NoCertificate, NoToken, SceauError
from sceau.i18n import _
from sceau.protocol.codes import Role
from sceau.tokens.base import CertificateEntry, PinPrompt, Token, TokenBackend
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.pkcs12 import Pkcs12Token

if TYPE_CHECKING:
    from sceau.tokens.pcsc_monitor import CardEvent

log = logging.getLogger(__name__)

REFRESH_TRIES = 5  # listings after a card insertion until its module shows the token
REFRESH_DELAY_S = 0.2


class TokenManager:
    """Backends sorted by priority; a cache of tokens dropped on `invalidate()` (card events)."""

    def __init__(self, backends: Sequence[TokenBackend], *, token_label: str | None = None) -> None:
        self.backends = sorted((b for b in backends if b.viable()), key=lambda b: -b.priority)
        self.token_label = token_label  # restrict to one token (CLI --token-label)
        self._lock = threading.RLock()
        self._tokens: list[Token] | None = None
        self.errors: list[str] = []  # backend problems, for `sceau doctor` and NO_TOKEN messages
        self.failures: list[SceauError] = []
        self.refreshed = threading.Event()  # set after each background refresh (tests, benchmarks)

    def tokens(self) -> list[Token]:
        with self._lock:
            if self._tokens is None:
                found: list[Token] = []
                self.errors = []
                self.failures = []
                for backend in self.backends:
                    try:
                        found.extend(backend.tokens())
                        # Modules that failed while others answered (not loadable, not answering).
                        self.errors.extend(getattr(backend, "errors", ()))
                    except SceauError as exc:
                        self.errors.append(exc.message)
                        self.failures.append(exc)
                        log.warning("backend %s: %s", backend.name, exc.message)
                if self.token_label is not None:
                    found = [t for t in found if t.info.label == self.token_label]
                self._tokens = found
            return list(self._tokens)

    def invalidate(self) -> None:
        """Forget cached tokens (a card was inserted or removed)."""
        with self._lock:
            if self._tokens:
                for t in self._tokens:
                    t.logout()
            self._tokens = None

    def card_event(self, event: CardEvent) -> None:
        """A PC/SC change (monitor thread): load the modules an inserted card's ATR maps to, drop the
        tokens' cache, and list the tokens again at once on a worker thread, so a removed token's login
        is gone before the next request and an inserted card's certificates are ready."""
        from sceau.tokens.pcsc_monitor import CardEventKind

        if event.kind is CardEventKind.READER_ADDED:
            return
        if event.kind is CardEventKind.CARD_INSERTED:
            for backend in self.backends:
                if isinstance(backend, Pkcs11Backend):
                    backend.card_inserted()
                    if event.modules:
                        backend.add_modules(event.modules)
        with self._lock:
            self._tokens = None
        wanted = set(event.modules) if event.kind is CardEventKind.CARD_INSERTED else set()
        threading.Thread(target=self._refresh, args=(wanted,), name="sceau-token-refresh", daemon=True).start()

    def _refresh(self, wanted: set[str]) -> None:
        try:
            for attempt in range(REFRESH_TRIES):
                tokens = self.tokens()
                for token in tokens:
                    token.certificates()
                loaded = {m for b in self.backends if isinstance(b, Pkcs11Backend) for m in b.modules}
                if not wanted & loaded or any(t.info.module in wanted for t in tokens):
                    break
                # The card's module does not show its token yet: middleware often lags PC/SC a little.
                time.sleep(REFRESH_DELAY_S * (attempt + 1))
                with self._lock:
                    self._tokens = None
        except SceauError as exc:
            log.info("token refresh after a card event: %s", exc.message)
        except Exception:  # a surprise in a background refresh must not kill anything
            log.exception("token refresh after a card event")
        self.refreshed.set()

    def entries(self, role: Role | None = None, prompt: PinPrompt | None = None) -> list[CertificateEntry]:
        """Certificates of every token; with `prompt`, files that hide theirs (PKCS#12) are unlocked.

        A certificate seen through two tokens (a vendor module and OpenSC on the same card) is listed
        once, from the token with the best rank (configured module, then vendor, then generic)."""
        listed: list[tuple[Token, list[CertificateEntry]]] = []
        failed: list[SceauError] = []
        for token in self.tokens():
            try:
                certs = token.certificates()
            except SceauError as exc:  # one token not answering must not hide the others
                failed.append(exc)
                log.warning("token %s: %s", token.info.label, exc.message)
                continue
            if not certs and prompt is not None and isinstance(token, Pkcs12Token):
                certs = token.unlock_certificates(prompt)
            listed.append((token, certs))
        found = _best(listed, role)
        if not found and failed:
            raise failed[0]  # nothing to show: say why (TOKEN_REMOVED, TIMEOUT) rather than "no certificate"
        return found

    def cached_entries(self, role: Role | None, handle: str | None = None) -> list[CertificateEntry] | None:
        """`require_entries` answered from what is already listed, without calling any token (so on
        the event loop: no thread hop per request); None when a token must be asked (first listing,
        after a card event, a locked PKCS#12 file) or nothing matches (the full lookup says why)."""
        tokens = self._tokens  # replaced, never changed in place: no lock needed to read it
        if not tokens:
            return None
        listed: list[tuple[Token, list[CertificateEntry]]] = []
        for token in tokens:
            certs = token.cached_certificates()
            if certs is None:
                return None
            listed.append((token, certs))
        found = [e for e in _best(listed, role) if handle is None or e.handle == handle]
        return found or None

    def token_of(self, entry: CertificateEntry) -> Token:
        for token in self.tokens():
            if token.info.token_id == entry.token.token_id:
                return token
        raise NoToken(_("The token holding this certificate is no longer present."))

    def require_entries(
        self, role: Role | None, handle: str | None = None, prompt: PinPrompt | None = None
    ) -> list[CertificateEntry]:
        """Entries for `role` (and `handle`), with NO_TOKEN / NO_CERTIFICATE errors that say what to do."""
        tokens = self.tokens()
        if not tokens:
            if len(self.failures) == 1:
                raise self.failures[0]  # the precise cause (bad module path, corrupt file) says what to fix
            hint = (" " + " ".join(self.errors)) if self.errors else ""
            raise NoToken(_("No token found: insert your card or USB key.") + hint)
        entries = [e for e in self.entries(role, prompt) if handle is None or e.handle == handle]
        if not entries:
            if role is Role.AUTH:
                msg = _("No authentication certificate on the token.")
            elif role is Role.SIGN:
                msg = _("No signature certificate on the token.")
            elif role is Role.ENCRYPT:
                msg = _("No encryption certificate on the token.")
            else:
                msg = _("No certificate on the token.")
            raise NoCertificate(msg)
        return entries

    def close(self) -> None:
        with self._lock:
            for b in self.backends:
                b.close()
            self._tokens = None


def _best(listed: Sequence[tuple[Token, list[CertificateEntry]]], role: Role | None) -> list[CertificateEntry]:
    """The entries fitting `role`, each certificate once (from its best-ranked token), in token order."""
    best: dict[str, tuple[int, int, CertificateEntry]] = {}
    for order, (token, certs) in enumerate(listed):
        for entry in certs:
            if role is None or role in entry.roles:
                key = (token.rank, order)
                seen = best.get(entry.fingerprint)
                if seen is None or key < seen[:2]:
                    best[entry.fingerprint] = (*key, entry)
    return [entry for _rank, _order, entry in sorted(best.values(), key=lambda v: (v[1], v[0]))]
