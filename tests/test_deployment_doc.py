"""docs/deployment.md: the example policy files and the sites.json example are what the code reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sceau.store.sites import TrustedSites
from sceau.system import provisioning
from sceau_native_host.manifests import FIREFOX_DEFAULT_ID

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "deployment.md"
POLICIES = REPO / "docs" / "policies"
ID = re.compile(r"^[a-p]{32}$")


def forcelist_entries(policy: dict[str, object]) -> list[tuple[str, str]]:
    entries = policy["ExtensionInstallForcelist"]
    assert isinstance(entries, list) and entries
    pairs = [tuple(e.split(";", 1)) for e in entries]
    for ext_id, url in pairs:
        assert ID.match(ext_id), ext_id
        assert url.startswith(("https://", "file:///")), url
    return pairs  # type: ignore[return-value]


def test_chrome_example_is_what_the_package_writes() -> None:
    example = json.loads((POLICIES / "chrome-managed-sceau.json").read_text())
    ((ext_id, url),) = forcelist_entries(example)
    assert example == provisioning.chrome_policy(ext_id, url)
    assert url == "file:///usr/share/sceau/extension/updates.xml"


def test_edge_and_windows_examples() -> None:
    edge = json.loads((POLICIES / "edge-managed-sceau.json").read_text())
    ((_, url),) = forcelist_entries(edge)
    assert any(url.startswith(src.rstrip("*")) for src in edge["ExtensionInstallSources"])
    reg = (POLICIES / "windows-chrome-forcelist.reg").read_text()
    assert reg.startswith("Windows Registry Editor Version 5.00")
    values = re.findall(r'^"1"="([a-p]{32});(https://[^"]+)"$', reg, re.M)
    assert len(values) == 2, values


def test_firefox_example_names_our_addon() -> None:
    policies = json.loads((POLICIES / "firefox-policies.json").read_text())["policies"]
    setting = policies["ExtensionSettings"][FIREFOX_DEFAULT_ID]
    assert setting["installation_mode"] == "force_installed"
    assert setting["install_url"].endswith(".xpi")


def test_every_example_is_linked_from_the_guide() -> None:
    text = DOC.read_text(encoding="utf-8")
    for path in POLICIES.iterdir():
        assert f"(policies/{path.name})" in text, path.name


def test_sites_json_example_is_read_by_the_store(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    (block,) = re.findall(r"```json\n(.*?)```", text, re.S)
    (tmp_path / "sites.json").write_text(block)
    sites = TrustedSites(tmp_path)
    assert sites.is_allowed("https://marches.exemple.fr", "sign")
    assert sites.is_allowed("https://marches.exemple.fr", "authenticate")
    assert not sites.is_allowed("https://marches.exemple.fr", "decrypt")


def test_managed_sites_example_is_read(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    (block,) = re.findall(r'```\n(\{"version": 1, "sites".*?)```', text, re.S)
    (tmp_path / "managed.json").write_text(block)
    sites = TrustedSites(tmp_path / "data", managed_path=tmp_path / "managed.json")
    assert sites.is_allowed("https://marches.exemple.fr", "authenticate")
    assert all(g.managed for g in sites.list())
