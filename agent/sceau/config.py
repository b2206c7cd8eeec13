"""Configuration: TOML file in the platformdirs config dir, validated, with documented defaults."""

from __future__ import annotations

import tomllib
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from sceau.errors import InvalidInput
from sceau.i18n import _
from sceau.protocol.constants import OPERATION_TIMEOUT_S

APP_DIR_NAME = "sceau"


@dataclass(frozen=True)
class Limits:
    """Hard caps enforced by the protocol core."""

    max_message_bytes: int = 64 * 1024 * 1024  # Chrome's cap on extension→host messages
    max_documents: int = 200
    # The largest bids run to several GB: disk space is checked when an upload announces its size.
    max_total_bytes: int = 16 * 1024 * 1024 * 1024
    max_document_bytes: int = 8 * 1024 * 1024 * 1024
    max_certificates_listed: int = 100
    min_nonce_bytes: int = 32
    max_nonce_bytes: int = 1024
    max_origin_length: int = 255


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Config:
    """Agent configuration. Every key is documented in docs/configuration.md."""

    pkcs11_modules: tuple[str, ...] = ()  # extra modules, tried before the built-in table
    disable_module_discovery: bool = False
    pkcs12_files: tuple[str, ...] = ()
    tsa_url: str = ""
    # Time-stamp servers a page may name in `tsaUrl` (besides tsa_url): a page must not make the agent
    # POST to arbitrary addresses (localhost, intranet).
    tsa_allowed_urls: tuple[str, ...] = ()
    trust_anchors: tuple[str, ...] = ()  # PEM files of trusted root CAs
    dev_mode: bool = False  # allows http://localhost and http://127.0.0.1 origins
    websocket_port: int = 0  # 0: WebSocket fallback disabled
    # POSIX: the native host hands the browser's pipes to the agent instead of relaying each message.
    direct_browser_channel: bool = True
    websocket_allowed_origins: tuple[str, ...] = ()
    language: str = ""  # "" → from the system locale (French by default)
    consent_timeout_s: float = 120.0
    # "Remember this site" for authentication: off by default (a script injected into a remembered
    # site could otherwise sign the user in silently). When on, each remembered sign-in still needs
    # the token and shows a notice.
    remember_authentication: bool = False
    # Ask the PIN for every authentication (the token is logged out first), remembered or not.
    pin_every_authentication: bool = False
    # Cards that ask the PIN for each signature (CKA_ALWAYS_AUTHENTICATE): the user may let Sceau reuse
    # the PIN within one batch of at most this many documents (0: never, the PIN is typed each time).
    pin_reuse_max_documents: int = 20
    operation_timeout_s: float = OPERATION_TIMEOUT_S
    # Untrusted files (PDF, XML, CMS, zip) are parsed in worker processes with these budgets.
    parse_timeout_s: float = 60.0
    parse_workers: int = 2
    limits: Limits = field(default_factory=Limits)
    data_dir: str = ""  # override of platformdirs (tests, portable installs)
    runtime_dir: str = ""
    # Desktop agent (docs/configuration.md): card events, ATR → module table, journal rotation.
    card_events: bool = True  # PC/SC insert/remove monitor (needs pyscard)
    atr_modules: tuple[str, ...] = ()  # "ATR[/MASK]=MODULE[,MODULE]" tried before the built-in table
    isolate_modules: bool = False  # each PKCS#11 module in a p11-kit host process (a crash spares the agent)
    journal_max_bytes: int = 4 * 1024 * 1024  # rotate journal.jsonl beyond this size
    journal_keep: int = 5  # rotated journal files kept
    # EU trusted lists (docs/configuration.md): the level of signatures in verification reports.
    trusted_lists: bool = True  # use the cached lists when verifying
    trusted_lists_url: str = "https://ec.europa.eu/tools/lotl/eu-lotl.xml"
    trusted_lists_signers: tuple[str, ...] = ()  # PEM files: the LOTL pivot set (default: shipped)
    trusted_lists_territories: tuple[str, ...] = ("FR",)  # "*": every list the LOTL points to
    trusted_lists_refresh_hours: float = 24.0  # background refresh by the agent; 0: never
    rgs_policies: tuple[str, ...] = ()  # "OID=**": certificate policy (arc) → RGS level

    def data_path(self) -> Path:
        return Path(self.data_dir) if self.data_dir else Path(platformdirs.user_data_dir(APP_DIR_NAME, False))

    def runtime_path(self) -> Path:
        if self.runtime_dir:
            return Path(self.runtime_dir)
        with warnings.catch_warnings():
            # Without XDG_RUNTIME_DIR (root shells, CI) platformdirs falls back to /tmp/runtime-UID
            # and warns; the IPC transport checks that directory's owner and mode itself.
            warnings.simplefilter("ignore")
            return Path(platformdirs.user_runtime_dir(APP_DIR_NAME, False))


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_DIR_NAME, False)) / "config.toml"


def _coerce(name: str, expected: Any, value: Any) -> Any:
    if isinstance(expected, bool):
        if not isinstance(value, bool):
            raise InvalidInput(_("Configuration: {key} must be true or false.").format(key=name))
        return value
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise InvalidInput(_("Configuration: {key} must be a positive number.").format(key=name))
        return type(expected)(value)
    if isinstance(expected, str):
        if not isinstance(value, str):
            raise InvalidInput(_("Configuration: {key} must be a string.").format(key=name))
        return value
    if isinstance(expected, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(_("Configuration: {key} must be a list of strings.").format(key=name))
        return tuple(value)
    raise InvalidInput(_("Configuration: {key} has an unsupported value.").format(key=name))


def from_mapping(data: dict[str, Any], base: Config | None = None) -> Config:
    """Build a Config from parsed TOML, refusing unknown keys and wrong types with clear messages."""
    base = base or Config()
    known = {f.name: getattr(base, f.name) for f in fields(base)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name == "limits":
            if not isinstance(value, dict):
                raise InvalidInput(_("Configuration: [limits] must be a table."))
            lim_known = {f.name: getattr(base.limits, f.name) for f in fields(base.limits)}
            lim_changes = {}
            for lk, lv in value.items():
                ln = lk.replace("-", "_")
                if ln not in lim_known:
                    raise InvalidInput(_("Configuration: unknown key limits.{key}.").format(key=lk))
                lim_changes[ln] = _coerce(f"limits.{lk}", lim_known[ln], lv)
            changes["limits"] = replace(base.limits, **lim_changes)
            continue
        if name not in known:
            raise InvalidInput(_("Configuration: unknown key {key}.").format(key=key))
        changes[name] = _coerce(key, known[name], value)
    return replace(base, **changes)


def load(path: Path | None = None) -> Config:
    """Load the config file (missing file → defaults)."""
    path = path or default_config_path()
    if not path.is_file():
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(_("Configuration file {path} is not valid TOML: {err}").format(path=path, err=exc)) from None
    return from_mapping(data)
