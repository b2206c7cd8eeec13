"""Verification report: one structure, rendered as JSON and as French / English text.

The text follows the wording users know from PDF readers: « Signé au moyen de signatures
valables », « Le Document n'a pas été modifié depuis l'apposition de la signature »,
« L'identité du signataire est valable », with the reason when something is wrong.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography import x509

from sceau.i18n import gettext
from sceau.trust.decide import TrustDecision


class Revocation(StrEnum):
    GOOD = "good"  # revocation information found and the certificate is not revoked
    REVOKED = "revoked"
    UNKNOWN = "unknown"  # pointers present but nothing could be obtained
    OFFLINE = "offline"  # not checked: offline mode and nothing embedded
    NOT_CHECKED = "not-checked"  # no trust anchor, so the chain was not evaluated
    NONE = "none"  # the certificate names no CRL / OCSP service: nothing to check


def has_revocation_pointers(cert: x509.Certificate) -> bool:
    """Whether the certificate names a CRL distribution point or an OCSP responder."""
    for ext_type in (x509.CRLDistributionPoints, x509.AuthorityInformationAccess):
        try:
            cert.extensions.get_extension_for_class(ext_type)
            return True
        except x509.ExtensionNotFound:
            continue
    return False


@dataclass
class SignatureReport:
    format: str
    signer: str = ""
    signer_certificate: x509.Certificate | None = None
    issuer: str = ""
    claimed_time: datetime | None = None
    integrity: bool = False  # the signed data (document digest) matches
    signature_valid: bool = False  # the cryptographic signature verifies with the certificate
    trusted: bool = False  # path to a configured trust anchor
    trust_reason: str = ""
    cert_valid_at_signing: bool | None = None
    revocation: Revocation = Revocation.NOT_CHECKED
    timestamp: datetime | None = None
    timestamp_valid: bool | None = None  # None: no time-stamp
    modified_after: bool | None = None  # PDF only: changes after this signature
    modification: str = ""  # PDF: none / form-filling / annotations / other
    level: str = "B-B"
    problems: list[str] = field(default_factory=list)  # English msgids (translated when rendered)
    certificates: list[x509.Certificate] = field(default_factory=list, repr=False)  # embedded, for the lists
    qualification: TrustDecision | None = None  # the level from the EU trusted lists
    archive_timestamps: list[tuple[datetime | None, bool]] = field(default_factory=list)  # B-LTA: (time, valid)

    @property
    def valid(self) -> bool:
        return (
            self.integrity
            and self.signature_valid
            and self.trusted
            and self.revocation is not Revocation.REVOKED
            and self.timestamp_valid is not False
            and not self.modified_after
            and self.cert_valid_at_signing is not False
            and all(ok for _t, ok in self.archive_timestamps)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "valid": self.valid,
            "signer": self.signer,
            "issuer": self.issuer,
            "signingTime": self.claimed_time.isoformat() if self.claimed_time else None,
            "integrity": self.integrity,
            "signatureValid": self.signature_valid,
            "trusted": self.trusted,
            "trustReason": self.trust_reason,
            "certificateValidAtSigning": self.cert_valid_at_signing,
            "revocation": self.revocation.value,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "timestampValid": self.timestamp_valid,
            "modifiedAfterSigning": self.modified_after,
            "modification": self.modification,
            "level": self.level,
            "problems": list(self.problems),
            "qualification": self.qualification.to_json() if self.qualification else None,
            "archiveTimestamps": [
                {"time": when.isoformat() if when else None, "valid": ok} for when, ok in self.archive_timestamps
            ],
        }


@dataclass
class VerifyReport:
    name: str
    format: str
    signatures: list[SignatureReport] = field(default_factory=list)
    offline: bool = True
    anchors_configured: bool = False
    error: str = ""  # the file could not be analysed at all
    # Attached CAdES: the signed document found inside the signature (not put in the JSON).
    content: bytes | None = field(default=None, repr=False)
    content_name: str = ""  # guessed from the signature's file name, "" when unknown
    lists_fetched: datetime | None = None  # when the EU trusted lists in use were fetched (None: not used)
    lists_missing: bool = False  # the lists are enabled but were never fetched: the report says how to

    @property
    def valid(self) -> bool:
        return not self.error and bool(self.signatures) and all(s.valid for s in self.signatures)

    def to_json(self, language: str | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "valid": self.valid,
            "offline": self.offline,
            "error": self.error,
            "signatures": [s.to_json() for s in self.signatures],
            "content": self.content_json(),
            "trustedListsFetched": self.lists_fetched.isoformat() if self.lists_fetched else None,
            "text": self.text(language),
        }

    def content_json(self) -> dict[str, Any] | None:
        """Name, size and SHA-256 of the document inside an attached signature (None: detached)."""
        if self.content is None:
            return None
        return {
            "name": self.content_name,
            "size": len(self.content),
            "sha256": hashlib.sha256(self.content).hexdigest(),
        }

    def text(self, language: str | None = None) -> str:
        return render_text(self, language)


def _fmt_time(when: datetime | None, language: str) -> str:
    if when is None:
        return "?"
    return when.strftime("%d/%m/%Y %H:%M:%S %Z" if language == "fr" else "%Y-%m-%d %H:%M:%S %Z").strip()


def render_text(report: VerifyReport, language: str | None = None) -> str:
    """Human-readable report (French by default)."""
    from sceau.i18n import current_language

    lang = language or current_language()

    def t(msg: str) -> str:
        return gettext(msg, lang)

    lines = [f"{report.name} — {report.format.upper()}"]
    if report.error:
        lines.append(t("The file could not be verified: {reason}").format(reason=t(report.error)))
        return "\n".join(lines)
    if not report.signatures:
        lines.append(t("No signature found."))
        return "\n".join(lines)
    lines.append(t("Signed with valid signatures.") if report.valid else t("At least one signature is not valid."))
    if report.content is not None:
        lines.append(
            t("The signed document is inside the signature: {name} ({size} bytes).").format(
                name=report.content_name or t("name unknown"), size=len(report.content)
            )
        )
    for i, s in enumerate(report.signatures, 1):
        lines.append("")
        lines.append(t("Signature {n}: {signer}").format(n=i, signer=s.signer or "?"))
        if s.claimed_time:
            lines.append(
                "  " + t("Signing time (claimed by the signer): {time}").format(time=_fmt_time(s.claimed_time, lang))
            )
        if s.integrity and s.signature_valid and not s.modified_after:
            lines.append("  " + t("The document has not been modified since the signature was applied."))
        elif not s.integrity or s.modified_after:
            lines.append("  " + t("The document has been modified since the signature was applied."))
        if not s.signature_valid:
            lines.append("  " + t("The signature value is not valid."))
        if s.modification and s.modification not in ("none", "lta-updates") and not s.modified_after:
            lines.append(
                "  "
                + t("Changes allowed by the signer were made after signing: {kind}.").format(kind=t(s.modification))
            )
        if s.trusted and s.cert_valid_at_signing is not False and s.revocation is not Revocation.REVOKED:
            lines.append("  " + t("The signer's identity is valid."))
        else:
            reason = t(s.trust_reason) if s.trust_reason else t("unknown reason")
            lines.append("  " + t("The signer's identity could not be confirmed: {reason}").format(reason=reason))
        if s.revocation is Revocation.REVOKED:
            lines.append("  " + t("The signer's certificate is revoked."))
        elif s.revocation is Revocation.OFFLINE:
            lines.append("  " + t("Revocation not checked (offline mode, no revocation data in the file)."))
        elif s.revocation is Revocation.GOOD:
            lines.append("  " + t("Revocation checked: the certificate is not revoked."))
        elif s.revocation is Revocation.NONE:
            lines.append("  " + t("The certificate names no revocation service: revocation not checked."))
        if s.timestamp_valid is True:
            lines.append("  " + t("Valid time-stamp: {time}").format(time=_fmt_time(s.timestamp, lang)))
        elif s.timestamp_valid is False:
            lines.append("  " + t("The time-stamp is not valid."))
        for when, ok in s.archive_timestamps:
            if ok:
                lines.append("  " + t("Valid archive time-stamp: {time}").format(time=_fmt_time(when, lang)))
            else:
                lines.append("  " + t("An archive time-stamp is not valid (the file was altered after it)."))
        for problem in s.problems:
            lines.append("  - " + t(problem))
        if s.qualification is not None:
            from sceau.trust.report import qualification_lines

            lines += ["  " + line for line in qualification_lines(s.qualification, lang)]
    if report.lists_fetched is not None:
        from sceau.trust.report import lists_age_line

        lines += ["", lists_age_line(report.lists_fetched, lang)]
    elif report.lists_missing:
        lines += [
            "",
            t("The EU trusted lists are not loaded: run `sceau trust refresh` to know each signature's level."),
        ]
    return "\n".join(lines)
