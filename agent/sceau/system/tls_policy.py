"""Certificate auto-selection policies for IT departments (`sceau browsers tls-policy`).

Chrome, Chromium and Edge: `AutoSelectCertificateForUrls`, a list of JSON strings
`{"pattern": URL pattern, "filter": {"ISSUER": {"CN": …}, "SUBJECT": {"CN": …}}}` — the browser
then presents the matching certificate without asking. Linux reads it from a managed-policy JSON
file, Windows from the registry (a .reg file is generated). Firefox has no per-site rule; the
nearest equivalent is the preference `security.default_personal_cert` = "Select Automatically"
(set through the `Preferences` policy), which applies to every site.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from sceau.errors import InvalidInput
from sceau.i18n import _


class PolicyBrowser(StrEnum):
    CHROME = "chrome"
    CHROMIUM = "chromium"
    EDGE = "edge"
    FIREFOX = "firefox"


LINUX_POLICY_DIRS = {
    PolicyBrowser.CHROME: "/etc/opt/chrome/policies/managed",
    PolicyBrowser.CHROMIUM: "/etc/chromium/policies/managed",
    PolicyBrowser.EDGE: "/etc/opt/edge/policies/managed",
    PolicyBrowser.FIREFOX: "/etc/firefox/policies",
}
WINDOWS_KEYS = {
    PolicyBrowser.CHROME: r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Google\Chrome\AutoSelectCertificateForUrls",
    PolicyBrowser.CHROMIUM: r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Chromium\AutoSelectCertificateForUrls",
    PolicyBrowser.EDGE: r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Edge\AutoSelectCertificateForUrls",
}
FIREFOX_PREF = "security.default_personal_cert"
FIREFOX_AUTO = "Select Automatically"


@dataclass(frozen=True)
class AutoSelectRule:
    pattern: str  # https://host[:port], or https://[*.]domain for a domain and its subdomains
    issuer_cn: str | None = None
    subject_cn: str | None = None

    def to_json(self) -> str:
        flt: dict[str, dict[str, str]] = {}
        if self.issuer_cn:
            flt["ISSUER"] = {"CN": self.issuer_cn}
        if self.subject_cn:
            flt["SUBJECT"] = {"CN": self.subject_cn}
        return json.dumps({"pattern": self.pattern, "filter": flt}, ensure_ascii=False, separators=(",", ":"))


def url_pattern(url: str, subdomains: bool = False) -> str:
    """A content-settings pattern for the site of `url` (https only: client certificates need TLS)."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidInput(_("Expected an https:// address, got {url}").format(url=url))
    host = f"[*.]{parts.hostname}" if subdomains else parts.hostname
    return f"https://{host}" + (f":{parts.port}" if parts.port else "")


def chromium_policy(rules: list[AutoSelectRule]) -> dict[str, list[str]]:
    """The managed-policy JSON (Linux: one file in the browser's policies/managed folder)."""
    return {"AutoSelectCertificateForUrls": [r.to_json() for r in rules]}


def windows_reg(browser: PolicyBrowser, rules: list[AutoSelectRule]) -> str:
    """A .reg file for Windows (the policy is a list: values "1", "2"… under the policy key)."""
    key = WINDOWS_KEYS[browser]
    lines = ["Windows Registry Editor Version 5.00", "", f"[{key}]"]
    for i, rule in enumerate(rules, 1):
        value = rule.to_json().replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'"{i}"="{value}"')
    return "\r\n".join(lines) + "\r\n"


def firefox_policy() -> dict[str, object]:
    """policies.json fragment: Firefox picks a matching certificate without asking, on every site."""
    return {"policies": {"Preferences": {FIREFOX_PREF: {"Value": FIREFOX_AUTO, "Status": "default"}}}}
