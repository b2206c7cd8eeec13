"""`pipx install .` then `sceau install-manifests`: one user, no root, a throw-away HOME (issue 11.6).

pipx uses Debian's python3 and pip's usual sources: PyPI, pip's cache, $PIP_FIND_LINKS and, when
`make deb` has built it, the wheelhouse in build/wheelhouse (so CI does not download twice)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sceau.protocol.constants import HOST_NAME

REPO = Path(__file__).resolve().parents[2]
WHEELHOUSE = REPO / "build" / "wheelhouse"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_pipx_install_then_user_manifests(tmp_path: Path) -> None:
    pipx = shutil.which("pipx")
    if pipx is None:
        pytest.fail("pipx is missing: `make deps-system` installs it (Debian package pipx)")
    home = tmp_path / "home"
    home.mkdir()
    # The wheelhouse of `make deb` for this pyproject.toml (installers/build-deb.sh stamps it): offline.
    stamp = WHEELHOUSE / f".stamp-{hashlib.sha1((REPO / 'pyproject.toml').read_bytes()).hexdigest()[:12]}"
    offline = stamp.is_file()
    links = " ".join(filter(None, [os.environ.get("PIP_FIND_LINKS"), str(WHEELHOUSE) if offline else ""]))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PIPX_HOME": str(home / ".local" / "pipx"),
        "PIPX_BIN_DIR": str(home / ".local" / "bin"),
        "PIP_FIND_LINKS": links,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        **({"PIP_NO_INDEX": "1"} if offline else {}),
        "SCEAU_LANG": "en",
        **{k: v for k, v in os.environ.items() if k.startswith(("PIP_INDEX", "PIP_CERT", "PIP_DEFAULT_TIMEOUT"))},
    }
    source = tmp_path / "src"  # a copy: pip builds in the source folder
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".venv", "node_modules", "build", "dist", ".git"))
    done = subprocess.run(
        [pipx, "install", "--python", "/usr/bin/python3", str(source)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sceau = home / ".local" / "bin" / "sceau"
    assert sceau.is_file()

    done = subprocess.run([str(sceau), "install-manifests"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    for rel in (".config/chromium/NativeMessagingHosts", ".mozilla/native-messaging-hosts"):
        body = json.loads((home / rel / f"{HOST_NAME}.json").read_text())
        host = Path(body["path"])
        assert host.is_relative_to(home / ".local" / "pipx"), body  # the pipx environment's host
        assert os.access(host, os.X_OK)
    doctor = subprocess.run([str(sceau), "doctor", "--json"], capture_output=True, text=True, env=env)
    (wired,) = [c for c in json.loads(doctor.stdout) if c["name"] == "Browser connection"]
    assert wired["ok"], wired

    done = subprocess.run([str(sceau), "install-manifests", "--uninstall"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and not list(home.rglob(f"{HOST_NAME}.json")), done.stdout
