"""Shared pieces of the platform's checks: trust anchors, reports, refusals, running the tools."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509


class Rejected(Exception):
    """The submitted file is refused; the message is shown to the user (French)."""


@dataclass(frozen=True)
class Trust:
    """Trust anchors of the platform (the demo PKI): PEM files for the tools, objects for Python."""

    root_pem: Path
    intermediates_pem: Path
    lists_dir: Path | None = None  # a trusted-list cache (sceau.trust): the level of each signature

    def anchors(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.root_pem.read_bytes())

    def intermediates(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.intermediates_pem.read_bytes())


@dataclass
class SignatureReport:
    document: str
    format: str
    valid: bool
    tool: str
    signer: str = ""
    organisation: str = ""
    signing_time: str = ""
    details: list[str] = field(default_factory=list)
    level: str = ""  # from the EU trusted lists, in French (Sceau's verifier)

    def to_json(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "format": self.format,
            "valid": self.valid,
            "tool": self.tool,
            "signer": self.signer,
            "organisation": self.organisation,
            "signingTime": self.signing_time,
            "details": self.details,
            "level": self.level,
        }


def name_parts(subject: x509.Name) -> tuple[str, str]:
    def first(oid: x509.ObjectIdentifier) -> str:
        attrs = subject.get_attributes_for_oid(oid)
        value = attrs[0].value if attrs else ""
        return value if isinstance(value, str) else value.decode("utf-8", "replace")

    return first(x509.NameOID.COMMON_NAME), first(x509.NameOID.ORGANIZATION_NAME)


def sceau_opinion(data: bytes, name: str, trust: Trust, detached: bytes | None = None) -> str:
    """A second opinion from Sceau's own verifier (`sceau.formats.verify`), shown next to the
    independent tool's verdict, which stays the one that counts. Blocking: call from a thread."""
    return sceau_check(data, name, trust, detached)[0]


def _level_text(report: Any) -> str:
    """The level of the first signature, in French, from Sceau's trusted-list decision."""
    from sceau.trust.report import qualification_lines

    sig = report.signatures[0] if report.signatures else None
    if sig is None or sig.qualification is None:
        return "Niveau : non déterminé (listes de confiance de l'UE non chargées)."
    return " ".join(qualification_lines(sig.qualification, "fr"))


def sceau_check(data: bytes, name: str, trust: Trust, detached: bytes | None = None) -> tuple[str, str]:
    """(second opinion, level) from Sceau's verifier; the level uses the platform's trusted lists."""
    import asyncio
    import importlib

    try:
        verify = importlib.import_module("sceau.formats.verify")
    except ImportError:
        return "Vérificateur Sceau : non disponible dans cette version.", ""
    try:
        opts = verify.VerifyOptions(
            anchors=[*trust.anchors(), *trust.intermediates()], detached=detached, detached_name=name
        )
        if trust.lists_dir is not None:
            from sceau.trust import cache

            opts.lists = cache.load(trust.lists_dir)
        report = asyncio.run(verify.verify_bytes(data, name, opts))
        level = _level_text(report)
    except Exception as exc:  # a second opinion must never break the platform's answer
        return f"Vérificateur Sceau : erreur ({type(exc).__name__}).", ""
    if report.valid:
        return "Vérificateur Sceau (sceau.formats.verify) : valide.", level
    problems = report.error or "; ".join(p for s in report.signatures for p in s.problems) or "non valide"
    return f"Vérificateur Sceau (sceau.formats.verify) : non valide — {problems[:300]}", level
