"""`make deb`, then the package installed, driven through Chromium and Firefox, upgraded and purged.

Runs only as root on Debian with the packaging tools (CI, `make test`); skips with the reason
otherwise. The install itself happens in tests/installers/deb_scenario.py inside a private mount
namespace with /etc, /usr and /var overlaid, so the system-wide browser policies it writes are seen
by this test's browsers only (other tests on the machine run browsers at the same time), and the
overlays' upper layers show exactly what purge left. SCEAU_DEB_NO_ISOLATION=1 installs for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sceau.devkit.pki import DevPki

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("dpkg-buildpackage", "dh_virtualenv", "lintian", "apt-get", "unshare")
BROWSERS = ("/usr/bin/chromium", "/usr/bin/firefox-esr")


def _missing() -> str:
    if os.geteuid() != 0:
        return "installs a .deb: needs root (CI runs as root)"
    if not Path("/etc/debian_version").exists():
        return "needs Debian (dpkg, apt)"
    missing = [t for t in TOOLS if shutil.which(t) is None] + [b for b in BROWSERS if not Path(b).exists()]
    return f"missing tools: {', '.join(missing)} (make deps-system)" if missing else ""


# The package build dominates: about 2 minutes on two idle cores, more on a loaded machine.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(bool(_missing()), reason=_missing() or "ok"),
]


def previous_build(deb: Path, out: Path) -> Path:
    """The same build under a lower version: what the CI machine had before this one."""
    root = out / "repack"
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-R", str(deb), str(root)], check=True)
    control = root / "DEBIAN" / "control"
    text = control.read_text(encoding="utf-8")
    version = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Version: "))
    control.write_text(text.replace(f"Version: {version}", f"Version: {version}~prev1"), encoding="utf-8")
    old = out / f"sceau_{version}~prev1.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "-z1", "-b", str(root), str(old)], check=True, capture_output=True)
    shutil.rmtree(root)
    return old


def overlays_work(scratch: Path) -> bool:
    """Whether this machine lets us mount overlays in a private mount namespace (containers may not)."""
    for d in ("lower", "upper", "work", "mnt"):
        (scratch / d).mkdir(parents=True, exist_ok=True)
    opts = f"lowerdir={scratch}/lower,upperdir={scratch}/upper,workdir={scratch}/work"
    probe = ["unshare", "--mount", "--propagation", "private", "mount", "-t", "overlay", "overlay", "-o", opts]
    ok = subprocess.run([*probe, str(scratch / "mnt")], capture_output=True).returncode == 0
    shutil.rmtree(scratch, ignore_errors=True)
    return ok


def test_deb_install_browsers_upgrade_purge(pki: DevPki, softhsm_module: str, softhsm_conf: Path) -> None:
    t0 = time.monotonic()
    built = subprocess.run(["make", "-s", "deb"], cwd=REPO, capture_output=True, text=True)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (deb,) = [Path(line) for line in built.stdout.splitlines() if line.endswith(".deb") and "/sceau_" in line]
    assert deb.name.startswith("sceau_") and deb.name.endswith(".deb") and deb.is_file(), built.stdout
    print(f"make deb (with lintian): {time.monotonic() - t0:.0f}s")
    # Not tmp_path: pytest sessions of other checkouts on this machine prune /tmp/pytest-of-root.
    old = previous_build(deb, REPO / "build" / "deb")

    isolate = os.environ.get("SCEAU_DEB_NO_ISOLATION") != "1"
    if isolate and not overlays_work(Path(tempfile.mkdtemp(prefix="sceau-overlay-probe-"))):  # where the scenario's go
        # A CI machine of its own: installing for real is what a user does (purged in a finally).
        print("no overlay mounts here: installing system-wide")
        isolate = False
    cmd = [sys.executable, "-m", "tests.installers.deb_scenario", "--new", str(deb), "--old", str(old)]
    cmd += ["--pki", str(pki.root), "--module", softhsm_module, "--softhsm-conf", str(softhsm_conf)]
    if isolate:
        cmd = ["unshare", "--mount", "--propagation", "private", *cmd, "--isolate"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=420)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]
    assert "nothing left behind" in proc.stdout
    print(f"total: {time.monotonic() - t0:.0f}s")
