"""Windows (NSIS, compiled by Debian's makensis), macOS (pkg scripts, LaunchAgent) and every shell
script of the repository (shellcheck). The registry keys and names are checked against the one
definition the agent uses (manifests.py, autostart.py), so the installers cannot drift from it."""

from __future__ import annotations

import json
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sceau.protocol.constants import HOST_NAME
from sceau.system.autostart import RUN_KEY, RUN_VALUE, Autostart
from sceau_native_host import manifests

REPO = Path(__file__).resolve().parents[2]
NSI = REPO / "installers" / "windows" / "sceau.nsi"
MACOS = REPO / "installers" / "macos"
CHROME_ID = ["-DCHROME_ID=abcdefghijklmnopabcdefghijklmnop"]
SHEBANGS = (b"#!/bin/sh", b"#!/bin/bash", b"#!/usr/bin/env sh", b"#!/usr/bin/env bash", b"#!/bin/dash")


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is missing: `make deps-system` installs it")
    return path


def test_nsis_installer_compiles(tmp_path: Path) -> None:
    payload = tmp_path / "payload"
    payload.mkdir()
    (payload / "sceau.exe").write_bytes(b"placeholder: the release build puts the frozen agent here")
    (payload / "sceau-native-host.exe").write_bytes(b"placeholder")
    out = tmp_path / "sceau-0.1.0-installer.exe"
    proc = subprocess.run(
        [
            _need("makensis"),
            "-V2",
            "-WX",
            "-DVERSION=0.1.0",
            f"-DPAYLOAD={payload}",
            *CHROME_ID,
            f"-DOUTFILE={out}",
            str(NSI),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.read_bytes()[:2] == b"MZ"  # a Windows executable
    # Without the extension id the script refuses to compile (no installer allowing an unknown id).
    missing = subprocess.run(
        [_need("makensis"), "-V1", "-DVERSION=0.1.0", f"-DPAYLOAD={payload}", f"-DOUTFILE={out}", str(NSI)],
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "CHROME_ID" in missing.stdout + missing.stderr


def test_nsis_registers_every_browser_and_removes_it() -> None:
    text = NSI.read_text(encoding="utf-8")
    defines = dict(
        line.split(None, 2)[1:] for line in text.splitlines() if line.startswith("!define ") and len(line.split()) > 2
    )
    defines = {k: v.strip('"') for k, v in defines.items()}
    assert defines["HOST_NAME"] == HOST_NAME
    assert defines["DESCRIPTION"] == manifests.DESCRIPTION
    assert defines["RUN_KEY"] == RUN_KEY and f'"{RUN_VALUE}"' in text
    for browser, key in manifests._WINDOWS_KEYS.items():
        name = f"KEY_{browser.upper()}"
        assert defines[name] == key, browser
        assert f'WriteRegStr SHCTX "${{{name}}}\\${{HOST_NAME}}"' in text, browser
        assert f'DeleteRegKey SHCTX "${{{name}}}\\${{HOST_NAME}}"' in text, browser
    assert 'DeleteRegValue SHCTX "${RUN_KEY}" "Sceau"' in text
    assert "WriteUninstaller" in text and "MULTIUSER_INSTALLMODE_COMMANDLINE" in text


def test_macos_launch_agent_matches_the_agent_definition() -> None:
    plist = plistlib.loads((MACOS / "fr.sceau.agent.plist").read_bytes())
    prefix = "/Library/Application Support/Sceau/bin"
    expected = plistlib.loads(Autostart([f"{prefix}/sceau", "agent"], platform="darwin").content().encode())
    assert plist == expected
    post = (MACOS / "postinstall").read_text(encoding="utf-8")
    assert '"$PREFIX/bin/sceau" install-manifests --system --host-path "$PREFIX/bin/sceau-native-host"' in post
    build = (MACOS / "build-pkg.sh").read_text(encoding="utf-8")
    assert "pkgbuild" in build and "productbuild" in build and "fr.sceau.agent.plist" in build


def shell_scripts() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    scripts = []
    for name in filter(None, listed):
        path = REPO / name.decode()
        if not path.is_file() or "node_modules" in path.parts:
            continue
        with path.open("rb") as fh:
            head = fh.readline()
        if path.suffix == ".sh" or head.startswith(SHEBANGS):
            scripts.append(path)
    return scripts


def test_every_shell_script_passes_shellcheck() -> None:
    scripts = shell_scripts()
    names = {p.relative_to(REPO).as_posix() for p in scripts}
    # The installers' scripts are among them (the finder itself is tested).
    assert {"installers/debian/sceau.postinst", "installers/macos/postinstall", "installers/build-deb.sh"} <= names
    proc = subprocess.run([_need("shellcheck"), "--format=gcc", *map(str, scripts)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_extension_ids_come_from_the_signing_key(tmp_path: Path) -> None:
    """`make extension`'s id is the CRX key's, and the update manifest and ids file agree."""
    out = tmp_path / "ext"
    options = ["--key", str(tmp_path / "k.pem"), "--install-dir", "/opt/x"]
    proc = subprocess.run(
        [sys.executable, str(REPO / "extension" / "tools" / "package.py"), "--out", str(out), *options],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = json.loads((out / "extension-ids.json").read_text())
    import base64
    import hashlib

    manifest = json.loads((out / "chrome" / "manifest.json").read_text())
    digest = hashlib.sha256(base64.b64decode(manifest["key"])).hexdigest()[:32]
    assert ids["chrome"] == ["".join(chr(ord("a") + int(c, 16)) for c in digest)]
    assert f'appid="{ids["chrome"][0]}"' in (out / "updates.xml").read_text()
    assert "file:///opt/x/sceau.crx" in (out / "updates.xml").read_text()
    assert (out / "sceau.crx").read_bytes()[:4] == b"Cr24"
    assert "key" not in json.loads(_zip_manifest(out / "sceau-chrome-store.zip"))
    assert json.loads(_zip_manifest(out / "sceau-firefox.xpi"))["version"] == ids["version"]
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0  # the generated key is private to its owner


def _zip_manifest(path: Path) -> str:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return zf.read("manifest.json").decode()


def test_one_version_for_agent_and_extension() -> None:
    """The unpacked extension's manifest carries pyproject.toml's version (packages take it from there)."""
    import tomllib

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert json.loads((REPO / "extension" / "manifest.json").read_text())["version"] == version
