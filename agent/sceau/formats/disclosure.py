"""What a signature request changes beyond the documents, as lines for the consent (DESIGN.md §4.10).

Every page-controlled parameter that changes what is signed or where data goes is shown to the user:
format and level, the time-stamp server, the PAdES visible stamp, reason, location, contact and
certification lock, the PES claimed role, place, policy and bordereaux. Values are quoted as the page
sent them (bounded in length) so the user reads exactly what will be embedded in the signature.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol
from urllib.parse import urlsplit

from sceau.formats.kinds import Format, Level
from sceau.formats.pades import PadesOptions
from sceau.formats.pes import PesOptions
from sceau.i18n import _

MAX_VALUE = 120  # characters of one quoted value
MAX_VALUES = 4  # distinct values listed for one parameter across a batch

FORMAT_NAMES = {Format.CADES: "CAdES", Format.XADES: "XAdES", Format.PADES: "PAdES", Format.PES: "PES (Hélios)"}


class SignedItem(Protocol):
    """A document of the batch as far as its parameters go (`formats.batch.BatchDocument`)."""

    @property
    def format(self) -> Format: ...

    @property
    def pades(self) -> PadesOptions: ...

    @property
    def pes(self) -> PesOptions: ...


def _quote(value: str) -> str:
    one_line = " ".join(value.split())
    if len(one_line) > MAX_VALUE:
        one_line = one_line[: MAX_VALUE - 1] + "…"
    return f"« {one_line} »"


def _distinct(values: Iterable[str]) -> list[str]:
    seen = list(dict.fromkeys(v for v in values if v))
    shown = [_quote(v) for v in seen[:MAX_VALUES]]
    if len(seen) > MAX_VALUES:
        shown.append(_("and {n} other values").format(n=len(seen) - MAX_VALUES))
    return shown


def _line(label: str, values: list[str]) -> list[str]:
    return [f"{label} {', '.join(values)}"] if values else []


def tsa_host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url[:MAX_VALUE]


def signing_parameters(items: Sequence[SignedItem], level: Level, tsa_url: str = "") -> tuple[str, ...]:
    """The lines the consent shows under "Signature parameters"."""
    formats = list(dict.fromkeys(FORMAT_NAMES[i.format] for i in items))
    lines = [_("Format: {formats} — level {level}").format(formats=", ".join(formats), level=level.value)]
    if level.timestamped and tsa_url:
        lines.append(_("Time-stamp server: {host}").format(host=tsa_host(tsa_url)))
    pades = [i.pades for i in items if i.format is Format.PADES]
    if pades:
        lines += _line(_("Visible stamp text:"), _distinct(p.visible.text for p in pades if p.visible))
        pages = sorted({p.visible.page for p in pades if p.visible})
        if pages:
            lines.append(_("Visible stamp on page: {pages}").format(pages=", ".join(str(n) for n in pages)))
        lines += _line(_("Reason:"), _distinct(p.reason for p in pades))
        lines += _line(_("Location:"), _distinct(p.location for p in pades))
        lines += _line(_("Contact:"), _distinct(p.contact for p in pades))
        lines += _line(_("Signature field:"), _distinct(p.field_name for p in pades))
        if any(p.certify for p in pades):
            modes = ", ".join(sorted({p.docmdp for p in pades if p.certify}))
            lines.append(_("Certification signature: later changes are limited ({modes}).").format(modes=modes))
    pes = [i.pes for i in items if i.format is Format.PES]
    if pes:
        lines += _line(_("Role claimed (PES):"), _distinct(p.claimed_role for p in pes))
        places = _distinct(", ".join(x for x in (p.city, p.postal_code, p.country) if x) for p in pes)
        lines += _line(_("Place of signing (PES):"), places)
        lines += _line(
            _("Signature policy (PES):"), _distinct(f"{p.policy.description} ({p.policy.identifier})" for p in pes)
        )
        scopes = []
        for p in pes:
            if p.whole:
                scopes.append(_("the whole PES file"))
            elif p.bordereaux is None:
                scopes.append(_("every bordereau"))
            else:
                scopes.append(_("{n} bordereaux").format(n=len(p.bordereaux)))
        lines.append(_("Items signed (PES): {scopes}").format(scopes=", ".join(dict.fromkeys(scopes))))
    return tuple(lines)
