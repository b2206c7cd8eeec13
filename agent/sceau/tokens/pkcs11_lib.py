"""The PKCS#11 library layer under `tokens.pkcs11`: loading a module (once per process), mapping
python-pkcs11's errors to ours, PIN flags, and the raw mechanisms' parameters."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pkcs11
import pkcs11.exceptions as p11e
from pkcs11 import MGF, Mechanism, TokenFlag

from sceau.errors import ModuleLoadError, PinLocked, SceauError, TokenRemoved
from sceau.i18n import _
from sceau.tokens.base import Digest, PinStatus

log = logging.getLogger(__name__)

# DER DigestInfo prefixes (RFC 8017 §9.2 note 1) for CKM_RSA_PKCS on a precomputed hash.
DIGEST_INFO = {
    Digest.SHA256: bytes.fromhex("3031300d060960864801650304020105000420"),
    Digest.SHA384: bytes.fromhex("3041300d060960864801650304020205000430"),
    Digest.SHA512: bytes.fromhex("3051300d060960864801650304020305000440"),
    Digest.SHA1: bytes.fromhex("3021300906052b0e03021a05000414"),
}
PSS_PARAMS = {
    Digest.SHA256: (Mechanism.SHA256, MGF.SHA256, 32),
    Digest.SHA384: (Mechanism.SHA384, MGF.SHA384, 48),
    Digest.SHA512: (Mechanism.SHA512, MGF.SHA512, 64),
}
REMOVED = (
    p11e.DeviceRemoved,
    p11e.TokenNotPresent,
    p11e.SessionHandleInvalid,
    p11e.SessionClosed,
    p11e.DeviceError,
    p11e.NoSuchToken,
    p11e.TokenNotRecognised,
)

_LIBS: dict[str, Any] = {}
_LIBS_LOCK = threading.Lock()


def load_module(path: str) -> Any:
    """Load (once per process) a PKCS#11 module, with a clear error when it cannot be.

    Keyed by the real file: the same module reached through a symlink (p11-kit's path and the vendor
    table's) is one library, initialised once."""
    real = os.path.realpath(path)
    with _LIBS_LOCK:
        if real not in _LIBS:
            try:
                _LIBS[real] = pkcs11.lib(real)
            except (p11e.PKCS11Error, OSError, RuntimeError) as exc:
                raise ModuleLoadError(
                    _(
                        "Cannot load the PKCS#11 module {path}: {err}. Check the path in the configuration "
                        "or reinstall the card middleware."
                    ).format(path=path, err=str(exc)[:200])
                ) from None
        return _LIBS[real]


def unload_module(path: str) -> None:
    """Release a module (C_Finalize, then unload): its last token is gone."""
    real = os.path.realpath(path)
    with _LIBS_LOCK:
        if _LIBS.pop(real, None) is None:
            return
        try:
            pkcs11.unload(real)
        except (p11e.PKCS11Error, OSError, RuntimeError) as exc:  # a module failing its C_Finalize
            log.warning("unloading %s: %r", path, exc)


@contextmanager
def token_errors() -> Iterator[None]:
    """Map python-pkcs11 errors to ours: removal, lock, anything else as a clear token error."""
    try:
        yield
    except SceauError:
        raise
    except REMOVED:
        raise TokenRemoved(_("The token was removed during the operation.")) from None
    except p11e.PinLocked:
        raise PinLocked(_("The PIN is locked. Unlock it with your PUK or contact your certificate provider.")) from None
    except p11e.PKCS11Error as exc:
        log.warning("PKCS#11 error: %r", exc)
        raise SceauError(_("The token refused the operation ({err}).").format(err=type(exc).__name__)) from None


def status_from_flags(flags: int) -> PinStatus:
    return PinStatus(
        initialized=bool(flags & TokenFlag.USER_PIN_INITIALIZED),
        count_low=bool(flags & TokenFlag.USER_PIN_COUNT_LOW),
        final_try=bool(flags & TokenFlag.USER_PIN_FINAL_TRY),
        locked=bool(flags & TokenFlag.USER_PIN_LOCKED),
    )
