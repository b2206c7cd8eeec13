"""The certificate lookup answered without a thread hop: only from what is listed already, and never
after something may have changed (first use, a card event, a removed token, a locked file)."""

from __future__ import annotations

from pathlib import Path

from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki
from sceau.protocol.codes import Role
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.pkcs12 import Pkcs12Backend
from sceau.tokens.registry import TokenManager


def test_cached_lookup_matches_the_full_one_and_forgets_on_card_events(softhsm_module: str) -> None:
    manager = TokenManager([Pkcs11Backend([softhsm_module])], token_label=softhsm.TOKEN_LABEL)
    try:
        assert manager.cached_entries(Role.SIGN) is None  # nothing listed yet: the token must be asked
        full = manager.require_entries(Role.SIGN)
        cached = manager.cached_entries(Role.SIGN)
        assert cached is not None and [e.fingerprint for e in cached] == [e.fingerprint for e in full]
        one = full[-1]
        assert [e.fingerprint for e in manager.cached_entries(Role.SIGN, one.handle) or []] == [one.fingerprint]
        assert manager.cached_entries(Role.SIGN, "0" * 32) is None  # no match: the full lookup says why
        auth = manager.cached_entries(Role.AUTH)
        assert auth and all(Role.AUTH in e.roles for e in auth)
        manager.invalidate()  # a card was inserted or removed
        assert manager.cached_entries(Role.SIGN) is None
        manager.require_entries(Role.SIGN)
        token = manager.tokens()[0]
        token.released = True  # type: ignore[attr-defined]  # its module was unloaded (card gone)
        assert manager.cached_entries(Role.SIGN) is None
    finally:
        manager.close()


def test_a_locked_pkcs12_file_is_never_answered_from_the_cache(pki: DevPki) -> None:
    manager = TokenManager([Pkcs12Backend([Path(pki["sign-rsa2048"].p12)])])
    try:
        manager.tokens()
        assert manager.cached_entries(Role.SIGN) is None  # its certificate shows only after the password
    finally:
        manager.close()
