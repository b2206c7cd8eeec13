"""From the configuration to what verification and refresh need (one place for both callers)."""

from __future__ import annotations

from sceau.config import Config
from sceau.errors import InvalidInput
from sceau.i18n import _
from sceau.trust import cache
from sceau.trust.decide import TrustLists


def rgs_table(cfg: Config) -> dict[str, str]:
    """`rgs_policies` entries "OID=LEVEL" (LEVEL: *, ** or ***)."""
    table: dict[str, str] = {}
    for entry in cfg.rgs_policies:
        oid, _sep, level = entry.partition("=")
        oid, level = oid.strip(), level.strip()
        if not oid or level not in ("*", "**", "***"):
            raise InvalidInput(_("Configuration: rgs_policies entries are OID=* / OID=** / OID=***."))
        table[oid] = level
    return table


def lists_for(cfg: Config) -> TrustLists | None:
    """The cached trusted lists to verify with (None: disabled or never refreshed)."""
    if not cfg.trusted_lists:
        return None
    return cache.load(cfg.data_path(), rgs_table(cfg))
