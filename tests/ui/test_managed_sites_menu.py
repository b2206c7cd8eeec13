"""Sites allowed by the organisation: shown as such in the tray, without a revoke entry."""

from __future__ import annotations

import json
from pathlib import Path

from sceau.store.sites import TrustedSites
from sceau.ui.menu import Action, TrayModel, TrayState, build_menu


def test_managed_site_in_the_menu(tmp_path: Path, french: None) -> None:
    managed = tmp_path / "managed.json"
    managed.write_text(json.dumps({"version": 1, "sites": {"https://marches.exemple.fr": ["sign"]}}))
    sites = TrustedSites(tmp_path, managed_path=managed)
    sites.grant("https://autre.exemple.fr", ["authenticate"])
    menu = build_menu(TrayModel(TrayState.READY, [], sites.list(), language="fr", autostart=False))
    (allowed,) = [i for i in menu if i.label == "Sites autorisés"]
    by_label = {i.label: i for i in allowed.children if not i.separator}
    ours = by_label["https://marches.exemple.fr"]
    assert [c.label for c in ours.children] == ["signature — géré par votre organisation"]
    assert all(c.action is not Action.REVOKE_SITE for c in ours.children)
    other = by_label["https://autre.exemple.fr"]
    assert other.children[-1].action is Action.REVOKE_SITE
