"""`sceau browsers tls-policy`: AutoSelectCertificateForUrls (Chrome/Chromium/Edge) and the Firefox preference.
Chromium applying the generated file is shown in tests/e2e/test_chromium_tls_login.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sceau.cli import main
from sceau.errors import InvalidInput
from sceau.protocol.constants import ExitCode
from sceau.system import tls_policy
from sceau.system.tls_policy import AutoSelectRule, PolicyBrowser


def test_url_patterns() -> None:
    assert tls_policy.url_pattern("https://www.s2low.org/login") == "https://www.s2low.org"
    assert tls_policy.url_pattern("s2low.org", subdomains=True) == "https://[*.]s2low.org"
    assert tls_policy.url_pattern("https://127.0.0.1:8443") == "https://127.0.0.1:8443"
    with pytest.raises(InvalidInput):
        tls_policy.url_pattern("http://www.s2low.org")


def test_chromium_policy_rules_are_json_strings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.json"
    args = ["browsers", "tls-policy", "--url", "https://www.s2low.org", "--url", "https://x.example"]
    code = main([*args, "--issuer-cn", "AC Certigna « RGS »", "-o", str(out)])
    assert code == ExitCode.OK
    rules = [json.loads(r) for r in json.loads(out.read_text())["AutoSelectCertificateForUrls"]]
    assert rules == [
        {"pattern": "https://www.s2low.org", "filter": {"ISSUER": {"CN": "AC Certigna « RGS »"}}},
        {"pattern": "https://x.example", "filter": {"ISSUER": {"CN": "AC Certigna « RGS »"}}},
    ]
    assert "/etc/opt/chrome/policies/managed/" in capsys.readouterr().err
    assert main(["browsers", "tls-policy"]) == ExitCode.ERROR  # --url is required


def test_windows_reg_escapes_the_json() -> None:
    rule = AutoSelectRule("https://www.s2low.org", subject_cn='Jean "JD" Dupont')
    text = tls_policy.windows_reg(PolicyBrowser.EDGE, [rule])
    lines = text.split("\r\n")
    assert lines[0] == "Windows Registry Editor Version 5.00"
    assert lines[2] == r"[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Edge\AutoSelectCertificateForUrls]"
    value = lines[3].split("=", 1)[1]
    # Undo .reg quoting: the value is the rule's JSON, intact.
    assert json.loads(value[1:-1].replace('\\"', '"').replace("\\\\", "\\")) == json.loads(rule.to_json())


def test_firefox_fragment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["browsers", "tls-policy", "--browser", "firefox"]) == ExitCode.OK
    data = json.loads(capsys.readouterr().out)
    assert data["policies"]["Preferences"]["security.default_personal_cert"]["Value"] == "Select Automatically"
