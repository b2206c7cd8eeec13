"""The report lines of a trust decision, in French or English (the msgids are in trust.po)."""

from __future__ import annotations

from datetime import UTC, datetime

from sceau.i18n import gettext
from sceau.trust.decide import LEVEL_TEXT, Level, TrustDecision


def _date(when: datetime | None, lang: str) -> str:
    if when is None:
        return "?"
    return when.strftime("%d/%m/%Y" if lang == "fr" else "%Y-%m-%d")


def qualification_lines(d: TrustDecision, lang: str) -> list[str]:
    def t(msg: str) -> str:
        return gettext(msg, lang)

    lines = [t("Level: {level}").format(level=t(LEVEL_TEXT[d.level]))]
    if d.level is not Level.NOT_LISTED:
        source = "From the trusted list of {territory}: service “{service}” of “{provider}”, {status} since {date}."
        lines.append(
            t(source).format(
                territory=d.territory,
                service=d.service,
                provider=d.provider,
                status=t(d.status.rsplit("/", 1)[-1] or "unknown"),
                date=_date(d.status_since, lang),
            )
        )
    for msg, params in d.reasons:
        lines.append("- " + t(msg).format(**{k: t(v) if k == "status" else v for k, v in params.items()}))
    if d.list_expired:
        lines.append("- " + t("The trusted list in use is past its next update: refresh it (sceau trust refresh)."))
    if d.rgs:
        lines.append(t("RGS level (from the certificate policy): {level}").format(level=d.rgs))
    return lines


def lists_age_line(fetched: datetime, lang: str) -> str:
    days = max(0, (datetime.now(UTC) - fetched).days)
    return gettext("EU trusted lists fetched on {date} ({days} days ago).", lang).format(
        date=_date(fetched, lang), days=days
    )
