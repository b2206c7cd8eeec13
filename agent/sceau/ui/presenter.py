"""What the dialogs say, as plain data: shared by the Tk dialogs, the terminal and the tray.

Nothing here touches a display, so every sentence the user reads is testable headless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sceau.i18n import _, current_language
from sceau.protocol.codes import OperationKind
from sceau.protocol.documents import DocumentInfo
from sceau.protocol.origin import registrable_domain
from sceau.tokens.base import CertificateEntry, PinRequest
from sceau.ui.api import ConsentRequest

EXPIRY_WARNING = timedelta(days=30)
MAX_LISTED_DOCUMENTS = 8  # a batch of 100 PES files lists the first ones and a count


@dataclass(frozen=True)
class SiteText:
    domain: str  # registrable domain, shown large
    origin: str  # full origin, shown below


def site_text(origin: str) -> SiteText:
    """Split an origin into its registrable domain (emphasised) and the full origin."""
    return SiteText(registrable_domain(origin) or origin, origin)


def operation_title(kind: OperationKind, count: int) -> str:
    """The operation in plain words: "Signer 3 documents", "Ouvrir un pli chiffré"..."""
    if kind is OperationKind.AUTHENTICATE:
        return _("Sign in (authenticate)")
    if kind is OperationKind.SIGN:
        if count == 0:
            return _("Sign data")
        if count == 1:
            return _("Sign the document")
        return _("Sign {n} documents").format(n=count)
    if kind is OperationKind.DECRYPT:
        return _("Open an encrypted bid") if count <= 1 else _("Open {n} encrypted bids").format(n=count)
    if kind is OperationKind.UNWRAP_KEY:
        return _("Unlock the key of an encrypted bid")
    if kind is OperationKind.ENCRYPT:
        return _("Encrypt the document") if count <= 1 else _("Encrypt {n} documents").format(n=count)
    if kind is OperationKind.VERIFY:
        return _("Verify signed files")
    if kind is OperationKind.CONNECT:
        return _("Connect to Sceau (without the browser extension)")
    return _("Read your certificates")


def format_size(size: int) -> str:
    """Human size in the current language (French: "12,3 Ko")."""
    fr = current_language() == "fr"
    units = ("o", "Ko", "Mo", "Go", "To") if fr else ("B", "KB", "MB", "GB", "TB")
    value = float(size)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            text = f"{value:.0f}" if unit in ("o", "B") else f"{value:.1f}"
            return f"{text.replace('.', ',') if fr else text} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_date(when: datetime) -> str:
    return when.strftime("%d/%m/%Y") if current_language() == "fr" else when.strftime("%Y-%m-%d")


def document_line(doc: DocumentInfo) -> str:
    return _("{name} — {size} — SHA-256 {digest}…").format(
        name=doc.name, size=format_size(doc.size), digest=doc.short_digest
    )


_DIGEST_NAMES = {"sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}


def document_meta(doc: DocumentInfo) -> str:
    """Size and digest; a digest the page sent (no document seen) is named with its own algorithm."""
    if doc.digest_algorithm and doc.size == 0:
        alg = _DIGEST_NAMES.get(doc.digest_algorithm, doc.digest_algorithm.upper())
        return _("digest {alg} {digest}…").format(alg=alg, digest=doc.short_digest)
    return _("{size} — SHA-256 {digest}…").format(size=format_size(doc.size), digest=doc.short_digest)


def expiry_warning(entry: CertificateEntry, now: datetime | None = None) -> str:
    """Empty when fine; otherwise why this certificate deserves attention."""
    now = now or datetime.now(UTC)
    end = entry.certificate.not_valid_after_utc
    if end < now:
        return _("This certificate expired on {date}.").format(date=format_date(end))
    if entry.certificate.not_valid_before_utc > now:
        return _("This certificate is not valid yet.")
    if end - now <= EXPIRY_WARNING:
        return _("This certificate expires in {n} days: renew it.").format(n=max(1, (end - now).days))
    return ""


def certificate_lines(entry: CertificateEntry) -> list[str]:
    """Holder, issuer, expiry (+ warning), token."""
    lines = [
        _("Holder: {name}").format(name=entry.subject_cn),
        _("Issued by: {name}").format(name=entry.issuer_cn),
        _("Expires on: {date}").format(date=format_date(entry.certificate.not_valid_after_utc)),
        _("On: {token}").format(token=entry.token.label),
    ]
    warning = expiry_warning(entry)
    return [*lines, warning] if warning else lines


@dataclass(frozen=True)
class ConsentText:
    title: str
    site: SiteText
    asks: str
    operation: str
    documents: list[tuple[str, str]]  # (name, size and short digest)
    more_documents: str  # "… and 92 more documents" or ""
    certificate: list[str]
    detail: str
    remember: str  # "" when the site cannot be remembered for this operation
    parameters: list[str]  # page-supplied signature parameters (format, level, stamp text...)
    names_note: str  # "" or a note that the page named the documents
    approve: str
    refuse: str


def consent_text(request: ConsentRequest) -> ConsentText:
    remember = ""
    if request.can_remember and request.operation is OperationKind.AUTHENTICATE:
        remember = _("Remember this site for authentication")
    return ConsentText(
        title=_("Sceau — authorisation request"),
        site=site_text(request.origin),
        asks=_("This site asks to:"),
        operation=operation_title(request.operation, len(request.documents)),
        documents=[(d.name, document_meta(d)) for d in request.documents[:MAX_LISTED_DOCUMENTS]],
        more_documents=_("… and {n} more documents").format(n=len(request.documents) - MAX_LISTED_DOCUMENTS)
        if len(request.documents) > MAX_LISTED_DOCUMENTS
        else "",
        certificate=certificate_lines(request.certificate) if request.certificate else [],
        detail=request.detail,
        remember=remember,
        parameters=list(request.parameters),
        names_note=_("Names supplied by the site") if request.names_from_page and request.documents else "",
        approve=_("Allow"),
        refuse=_("Refuse"),
    )


@dataclass(frozen=True)
class PinText:
    title: str
    prompt: str
    token: str
    error: str  # "PIN incorrect" after a wrong attempt
    warning: str  # tries left / final try
    locked: str  # non-empty: no entry, only what to do
    ok: str
    cancel: str


def pin_text(request: PinRequest) -> PinText:
    status = request.status
    what = _("password") if request.is_password else _("PIN")
    error = ""
    if request.retry:
        error = _("Wrong password.") if request.is_password else _("PIN incorrect, try again.")
    warning = ""
    if status.final_try:
        warning = _("Last try: a wrong PIN now locks the card.")
    elif status.retries_left is not None:
        warning = _("{n} tries left before the PIN is locked.").format(n=status.retries_left)
    elif status.count_low:
        warning = _("Few tries left before the PIN is locked.")
    locked = ""
    if status.locked:
        locked = _(
            "The PIN of this card is locked after too many wrong attempts. Unlock it with your PUK code "
            "(card manager software) or contact the certificate provider."
        )
    if request.is_password:
        prompt = _("Password of the certificate file:")
    elif request.context_specific:
        prompt = _("Enter your PIN again to confirm this signature:")
    else:
        prompt = _("Enter the PIN of your card:")
    return PinText(
        title=_("Sceau — {what}").format(what=what),
        prompt=prompt,
        token=_("Token: {label}").format(label=request.token.label),
        error=error,
        warning=warning,
        locked=locked,
        ok=_("OK"),
        cancel=_("Cancel") if not status.locked else _("Close"),
    )


def candidate_columns(entry: CertificateEntry) -> tuple[str, str, str, str]:
    """Picker row: holder, issuer, expiry (with a mark when it needs attention), token."""
    expiry = format_date(entry.certificate.not_valid_after_utc)
    if expiry_warning(entry):
        expiry = "⚠ " + expiry
    return (entry.subject_cn, entry.issuer_cn, expiry, entry.token.label)
