"""The tray menu as plain data, built from the agent's state: testable without a display.

`tray.py` turns these items into pystray menus; `TrayController` runs the actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from sceau.i18n import _
from sceau.protocol.codes import OperationKind, Role
from sceau.store.sites import SiteGrant
from sceau.tokens.base import CertificateEntry
from sceau.ui import presenter


class TrayState(StrEnum):
    """Icon states: prêt / carte insérée / opération en cours / erreur."""

    READY = "ready"
    CARD = "card"
    BUSY = "busy"
    ERROR = "error"


class Action(StrEnum):
    REVOKE_SITE = "revoke-site"
    REVOKE_ALL_SITES = "revoke-all-sites"
    OPEN_JOURNAL = "open-journal"
    SET_LANGUAGE = "set-language"
    TOGGLE_AUTOSTART = "toggle-autostart"
    DIAGNOSTIC = "diagnostic"
    TLS_LOGIN = "tls-login"
    QUIT = "quit"


@dataclass(frozen=True)
class MenuItem:
    label: str
    action: Action | None = None
    payload: str = ""  # origin to revoke, language code...
    enabled: bool = True
    checked: bool | None = None  # None: not a check item
    radio: bool = False
    children: tuple[MenuItem, ...] = ()
    separator: bool = False


SEPARATOR = MenuItem("", separator=True)
LANGUAGES = (("fr", "Français"), ("en", "English"))  # each language named in itself


@dataclass(frozen=True)
class TrayModel:
    """What the menu shows; gathered by the controller at the moment the menu opens."""

    state: TrayState
    certificates: Sequence[CertificateEntry] = ()
    sites: Sequence[SiteGrant] = ()
    language: str = "fr"
    autostart: bool = False
    error: str = ""  # short reason shown when state is ERROR
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def state_text(model: TrayModel) -> str:
    text = {
        TrayState.READY: _("Sceau — ready"),
        TrayState.CARD: _("Sceau — card inserted"),
        TrayState.BUSY: _("Sceau — operation in progress"),
        TrayState.ERROR: _("Sceau — error"),
    }[model.state]
    return f"{text}: {model.error}" if model.state is TrayState.ERROR and model.error else text


def role_names(roles: frozenset[Role]) -> str:
    names = {Role.AUTH: _("authentication"), Role.SIGN: _("signature"), Role.ENCRYPT: _("encryption")}
    return ", ".join(names[r] for r in (Role.SIGN, Role.AUTH, Role.ENCRYPT) if r in roles)


def operation_name(kind: OperationKind) -> str:
    return {
        OperationKind.AUTHENTICATE: _("authentication"),
        OperationKind.SIGN: _("signature"),
        OperationKind.DECRYPT: _("opening encrypted bids"),
        OperationKind.UNWRAP_KEY: _("opening encrypted bids (key only)"),
        OperationKind.ENCRYPT: _("encryption"),
        OperationKind.LIST: _("reading certificates"),
        OperationKind.VERIFY: _("verifying signed files"),
        OperationKind.CONNECT: _("connecting without the extension"),
    }[kind]


def certificate_item(entry: CertificateEntry, now: datetime) -> MenuItem:
    """ "Holder (roles) — issuer — expires on ..." with a warning 30 days before expiry."""
    label = _("{holder} ({roles}) — {issuer} — expires on {date}").format(
        holder=entry.subject_cn,
        roles=role_names(entry.roles),
        issuer=entry.issuer_cn,
        date=presenter.format_date(entry.certificate.not_valid_after_utc),
    )
    warning = presenter.expiry_warning(entry, now)
    return MenuItem(f"⚠ {label} — {warning}" if warning else label)


def expiring(model: TrayModel) -> list[CertificateEntry]:
    """Certificates that need attention (expired, not yet valid, or expiring within 30 days)."""
    return [e for e in model.certificates if presenter.expiry_warning(e, model.now)]


def sites_menu(grants: Sequence[SiteGrant]) -> tuple[MenuItem, ...]:
    if not grants:
        return (MenuItem(_("(no site allowed yet)"), enabled=False),)
    by_origin: dict[str, list[SiteGrant]] = {}
    for g in grants:
        by_origin.setdefault(g.origin, []).append(g)
    items: list[MenuItem] = []
    for origin, own in sorted(by_origin.items()):
        details = tuple(
            MenuItem(
                _("{operation} — managed by your organisation").format(operation=operation_name(g.operation))
                if g.managed
                else _("{operation} — since {date}").format(
                    operation=operation_name(g.operation), date=presenter.format_date(g.granted_at)
                ),
                enabled=False,
            )
            for g in own
        )
        if all(g.managed for g in own):  # nothing the user may revoke here
            items.append(MenuItem(origin, children=details))
            continue
        revoke = MenuItem(_("Revoke this site"), Action.REVOKE_SITE, payload=origin)
        items.append(MenuItem(origin, children=(*details, SEPARATOR, revoke)))
    items += [SEPARATOR, MenuItem(_("Revoke all sites"), Action.REVOKE_ALL_SITES)]
    return tuple(items)


def build_menu(model: TrayModel) -> tuple[MenuItem, ...]:
    """The whole tray menu, top to bottom."""
    certs = tuple(certificate_item(e, model.now) for e in model.certificates) or (
        MenuItem(_("(no certificate: insert your card or USB key)"), enabled=False),
    )
    languages = tuple(
        MenuItem(name, Action.SET_LANGUAGE, payload=code, checked=model.language == code, radio=True)
        for code, name in LANGUAGES
    )
    return (
        MenuItem(state_text(model), enabled=False),
        SEPARATOR,
        MenuItem(_("Certificates"), children=certs),
        MenuItem(_("Allowed sites"), children=sites_menu(model.sites)),
        MenuItem(_("Journal…"), Action.OPEN_JOURNAL),
        MenuItem(_("Language"), children=languages),
        MenuItem(_("Start with the session"), Action.TOGGLE_AUTOSTART, checked=model.autostart),
        MenuItem(_("Diagnostic…"), Action.DIAGNOSTIC),
        MenuItem(_("Certificate login in the browsers (TLS)…"), Action.TLS_LOGIN),
        SEPARATOR,
        MenuItem(_("Quit"), Action.QUIT),
    )
