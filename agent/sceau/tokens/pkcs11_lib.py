"""The PKCS#11 library layer under `tokens.pkcs11`: loading a module (once per process), mapping
python-pkcs11's errors to ours, PIN flags, and the raw mechanisms' parameters."""

from __future__ import annotations

import contextlib
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
from sceau.tokens.module_host import HOSTS

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


def load_module(path: str, *, isolate: bool = False) -> Any:
    """Load (once per process) a PKCS#11 module, with a clear error when it cannot be.

    Keyed by the real file: the same module reached through a symlink (p11-kit's path and the vendor
    table's) is one library, initialised once. With `isolate`, the module runs in a host process of its
    own (`tokens.module_host`) and what is loaded here is p11-kit's client module connected to it."""
    real = os.path.realpath(path)
    with _LIBS_LOCK:
        if real not in _LIBS:
            if isolate and not os.path.isfile(real):
                raise ModuleLoadError(
                    _(
                        "Cannot load the PKCS#11 module {path}: {err}. Check the path in the configuration "
                        "or reinstall the card middleware."
                    ).format(path=path, err="no such file")
                )
            try:
                if isolate:
                    host = HOSTS.host(real)
                    host.ensure()
                    with host.addressed():
                        _LIBS[real] = pkcs11.lib(host.client)
                else:
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
    """Release a module (C_Finalize, then unload): its last token is gone. A hosted module's host
    process is stopped."""
    real = os.path.realpath(path)
    with _LIBS_LOCK:
        if _LIBS.pop(real, None) is None:
            return
        host = HOSTS.get(real)
        try:
            pkcs11.unload(host.client if host is not None else real)
        except (p11e.PKCS11Error, OSError, RuntimeError) as exc:  # a module failing its C_Finalize
            log.warning("unloading %s: %r", path, exc)
        if host is not None:
            HOSTS.drop(real)


def stop_hung_host(path: str) -> bool:
    """A hosted module stuck in a call (`executor.LANES.on_stuck`): end its process, so the call comes
    back (as an error), the module is no longer put aside, and the next use connects a fresh process."""
    host = HOSTS.get(path)
    return host is not None and host.kill_children() > 0


def hosted_stale(path: str) -> bool:
    """The module runs in a host process that died (a crash) since its client connected."""
    host = HOSTS.get(path)
    return host is not None and os.path.realpath(path) in _LIBS and host.stale()


def reconnect_module(path: str) -> None:
    """After its host process died: start it again if needed and connect the client again
    (C_Finalize, C_Initialize: a fresh child process). The library stays loaded, so objects made
    before point to valid memory; their handles are stale, and their owners are marked released."""
    real = os.path.realpath(path)
    host = HOSTS.get(real)
    with _LIBS_LOCK:
        lib = _LIBS.get(real)
        if host is None or lib is None:
            return
        crashes = host.crashes
        host.ensure()
        with host.addressed():
            with contextlib.suppress(p11e.PKCS11Error):  # C_Finalize on a dead connection
                lib.finalize()
            try:
                lib.initialize()
            except p11e.PKCS11Error as exc:
                raise ModuleLoadError(
                    _("The PKCS#11 module {path} does not start again: {err}.").format(
                        path=path, err=type(exc).__name__
                    )
                ) from None
        host.acknowledged = max(host.acknowledged, crashes)
        log.info("PKCS#11 module %s: host process connected again", path)


@contextmanager
def token_errors(module: str | None = None) -> Iterator[None]:
    """Map python-pkcs11 errors to ours: removal, lock, anything else as a clear token error. On a
    hosted `module`, a "removal" that is its host process dying says so."""
    host = HOSTS.get(module) if module is not None else None
    crashes = host.crashes if host is not None else 0
    try:
        yield
    except SceauError:
        raise
    except REMOVED:
        if host is not None and (host.stale() or host.wait_crash(crashes)):
            raise TokenRemoved(
                _(
                    "The token middleware {module} stopped (it crashed); its tokens are unavailable. Sceau "
                    "restarts it at the next request: try again, and if it happens again, update or reinstall "
                    "the middleware."
                ).format(module=os.path.basename(module or ""))
            ) from None
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
