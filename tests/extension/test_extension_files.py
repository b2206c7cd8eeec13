"""Extension package: generated protocol files up to date, locales complete, icons, Firefox build lint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
EXT = REPO / "extension"


def test_protocol_files_are_generated_from_python() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXT / "tools" / "gen_protocol.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    expected = json.loads(
        subprocess.run([sys.executable, "-m", "sceau.protocol.codes"], capture_output=True, text=True, check=True).stdout
    )
    generated = json.loads((EXT / "lib" / "protocol.json").read_text(encoding="utf-8"))
    assert {k: generated[k] for k in expected} == expected


def test_no_error_code_is_retyped_in_javascript() -> None:
    codes = json.loads((EXT / "lib" / "protocol.json").read_text(encoding="utf-8"))["errorCodes"]
    for path in [*EXT.glob("background/*.js"), *EXT.glob("content/*.js"), EXT / "lib" / "sceau.js"]:
        text = path.read_text(encoding="utf-8")
        for code in codes:
            assert f'"{code}"' not in text and f"'{code}'" not in text, f"{code} retyped in {path}"


def test_locales_are_complete_and_french_is_default() -> None:
    manifest = json.loads((EXT / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["manifest_version"] == 3 and manifest["default_locale"] == "fr"
    fr = json.loads((EXT / "_locales/fr/messages.json").read_text(encoding="utf-8"))
    en = json.loads((EXT / "_locales/en/messages.json").read_text(encoding="utf-8"))
    assert fr.keys() == en.keys()
    used = set()
    for path in EXT.rglob("*"):
        if path.suffix in {".js", ".html", ".json"} and "_locales" not in path.parts and "tests" not in path.parts:
            text = path.read_text(encoding="utf-8")
            used |= set(re.findall(r"__MSG_(\w+)__", text))
            used |= set(re.findall(r'data-i18n="(\w+)"', text))
            used |= set(re.findall(r'getMessage\("(\w+)"', text)) | set(re.findall(r'\bt\("(\w+)"', text))
    assert used <= fr.keys(), used - fr.keys()
    assert "veut utiliser votre certificat pour" in fr["permissionQuestion"]["message"]


def test_icons_exist_at_their_declared_sizes() -> None:
    manifest = json.loads((EXT / "manifest.json").read_text(encoding="utf-8"))
    for size, rel in manifest["icons"].items():
        with Image.open(EXT / rel) as img:
            assert img.size == (int(size), int(size)) and img.mode == "RGBA"


def test_nothing_chrome_refuses_to_load() -> None:
    # Chrome rejects unpacked extensions containing names starting with "_" (except _locales).
    bad = [p for p in EXT.rglob("_*") if p.name != "_locales"]
    assert bad == []


def test_firefox_build_passes_web_ext_lint(tmp_path: Path) -> None:
    web_ext = REPO / "node_modules" / ".bin" / "web-ext"
    if not web_ext.exists():
        pytest.fail("web-ext is missing: run `make deps-node` (npm ci)")
    subprocess.run(
        [sys.executable, str(EXT / "build_firefox.py"), "--out", str(tmp_path)], check=True, capture_output=True
    )
    manifest = json.loads((tmp_path / "firefox" / "manifest.json").read_text(encoding="utf-8"))
    assert "key" not in manifest and "service_worker" not in manifest["background"]
    assert manifest["browser_specific_settings"]["gecko"]["id"] == "extension@sceau.fr"
    assert (tmp_path / "sceau-firefox.xpi").stat().st_size > 1000
    proc = subprocess.run(
        [str(web_ext), "lint", "--source-dir", str(tmp_path / "firefox"), "--output", "json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    report = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert report["errors"] == [] and report["warnings"] == [], report
    assert shutil.which("node")
