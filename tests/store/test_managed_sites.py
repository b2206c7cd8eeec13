"""Managed site grants (a system file written by IT): allowed, listed as managed, never revocable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sceau.errors import InvalidInput
from sceau.i18n import gettext
from sceau.store.sites import TrustedSites


def write(path: Path, sites: object) -> None:
    path.write_text(json.dumps({"version": 1, "sites": sites}), encoding="utf-8")


def test_managed_grants_allow_and_cannot_be_revoked(tmp_path: Path) -> None:
    managed = tmp_path / "etc-sites.json"
    write(
        managed,
        {
            "https://Marches.Exemple.fr:443": ["authenticate", "sign", "teleport"],
            "http://evil.example": ["sign"],  # not https: ignored
            "https://x.example": "sign",  # not a list: ignored
        },
    )
    sites = TrustedSites(tmp_path / "data", managed_path=managed)
    assert sites.is_allowed("https://marches.exemple.fr", "sign")
    assert sites.is_allowed("https://marches.exemple.fr", "authenticate")
    assert not sites.is_allowed("https://marches.exemple.fr", "decrypt")
    assert not sites.is_allowed("http://evil.example", "sign")
    listed = [(g.origin, g.operation.value, g.managed) for g in sites.list()]
    assert listed == [
        ("https://marches.exemple.fr", "authenticate", True),
        ("https://marches.exemple.fr", "sign", True),
    ]
    assert sites.list()[0].to_json()["managed"] is True

    with pytest.raises(InvalidInput) as err:
        sites.revoke("https://marches.exemple.fr")
    assert "managed by your organisation" in err.value.message
    assert "géré par votre organisation" in gettext(
        "{origin} is managed by your organisation: it cannot be revoked here.", "fr"
    )
    assert sites.is_allowed("https://marches.exemple.fr", "sign")
    assert not (tmp_path / "data" / "sites.json").exists()  # nothing half-written

    # The user's own grant on the same site is revocable; the managed one stays.
    sites.grant("https://marches.exemple.fr", ["decrypt"])
    assert sites.revoke("https://marches.exemple.fr") == 1
    assert sites.is_allowed("https://marches.exemple.fr", "sign")
    assert not sites.is_allowed("https://marches.exemple.fr", "decrypt")


def test_managed_file_changes_are_seen_and_a_bad_file_grants_nothing(tmp_path: Path) -> None:
    managed = tmp_path / "etc-sites.json"
    sites = TrustedSites(tmp_path / "data", managed_path=managed)
    assert not sites.is_allowed("https://a.example", "sign")
    write(managed, {"https://a.example": ["sign"]})
    assert sites.is_allowed("https://a.example", "sign")
    managed.write_text("{broken")
    assert not sites.is_allowed("https://a.example", "sign")
    assert sites.list() == []
    own = [
        g.to_json() for g in TrustedSites(tmp_path / "d2", managed_path=managed).grant("https://b.example", ["sign"])
    ]
    assert "managed" not in own[0]  # the user's grants keep their wire format
