"""The Debian package as a user gets it: install, browsers find extension and host, upgrade, purge.

Run by tests/installers/test_deb.py as `python -m tests.installers.deb_scenario …` inside a private
mount namespace (`unshare --mount`) where /etc, /usr and /var are overlays: apt-get, dpkg and the
maintainer scripts really write the system paths, but only this process tree sees them, so the
browsers other tests run on this machine never get our force-installed extension, and what the
package leaves behind after purge is exactly the overlays' upper layers. Exits non-zero on failure.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sceau.devkit import browsers
from sceau.devkit.bridge import Bridge
from sceau.devkit.pki import DevPki
from sceau.devkit.testsite import RelyingParty, call
from sceau.store.sites import TrustedSites
from tests.e2e.helpers import E2E_ENV, validator

VENV = Path("/usr/lib/sceau")
EXT_DIR = Path("/usr/share/sceau/extension")
SYSTEM_MANIFESTS = [
    Path("/etc/chromium/native-messaging-hosts/fr.sceau.agent.json"),
    Path("/etc/opt/chrome/native-messaging-hosts/fr.sceau.agent.json"),
    Path("/etc/opt/edge/native-messaging-hosts/fr.sceau.agent.json"),
    Path("/usr/lib/mozilla/native-messaging-hosts/fr.sceau.agent.json"),
]
OVERLAID = ("etc", "usr", "var")
# What apt and dpkg keep for themselves, and caches that triggers regenerate: not the package's.
BOOKKEEPING = (
    "var/lib/dpkg/",
    "var/lib/apt/",
    "var/cache/",
    "var/log/",
    "etc/ld.so.cache",
    "usr/share/icons/hicolor/icon-theme.cache",
    "usr/share/applications/mimeinfo.cache",
    # The second account this scenario adds (useradd), not the package.
    *(f"etc/{name}" for name in ("passwd", "group", "shadow", "gshadow", "subuid", "subgid", ".pwd.lock")),
)


def log(msg: str) -> None:
    print(f"[deb {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def apt(*args: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "-y", "-q", "-o", "Dpkg::Use-Pty=0", *args], env=env)


def installed_version() -> str | None:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status} ${Version}", "sceau"], capture_output=True, text=True)
    parts = proc.stdout.split()
    return parts[-1] if proc.returncode == 0 and "installed" in parts[:3] and "ok" in parts else None


def dpkg_version(deb: Path) -> str:
    return run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip()


def overlay(work: Path) -> Path:
    """/etc, /usr, /var become overlays whose upper layers are under `work/overlay`."""
    base = work / "overlay"
    for name in OVERLAID:
        upper, scratch = base / "upper" / name, base / "work" / name
        upper.mkdir(parents=True)
        scratch.mkdir(parents=True)
        run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir=/{name},upperdir={upper},workdir={scratch}",
                f"/{name}",
            ]
        )
    return base / "upper"


def leftovers(upper: Path) -> list[str]:
    """Files (and deletions of pre-existing ones: whiteouts) the package left in the overlays."""
    found = []
    for name in OVERLAID:
        for path in (upper / name).rglob("*"):
            rel = path.relative_to(upper).as_posix()
            if (path.is_dir() and not path.is_symlink()) or rel.startswith(BOOKKEEPING):
                continue
            found.append(rel)
    return found


def our_processes() -> list[int]:
    """Processes whose interpreter is the package's (agents, native hosts)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv0 = cmdline.read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if argv0.startswith(str(VENV) + "/"):
            pids.append(int(cmdline.parent.name))
    return pids


def pcscd_here() -> set[int]:
    """pcscd processes in this mount namespace (other tests' pcscd run outside it)."""
    mine = os.readlink("/proc/self/ns/mnt")
    pids = set()
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "pcscd" and os.readlink(comm.parent / "ns" / "mnt") == mine:
                pids.add(int(comm.parent.name))
        except OSError:
            continue
    return pids


def check_installed(env: dict[str, str], chrome_id: str) -> None:
    assert Path("/usr/bin/sceau").is_file() and os.access("/usr/bin/sceau", os.X_OK)
    for path in SYSTEM_MANIFESTS:
        body = json.loads(path.read_text(encoding="utf-8"))
        assert body["path"] == str(VENV / "bin" / "sceau-native-host"), (path, body)
        assert os.access(body["path"], os.X_OK), body["path"]
        if "mozilla" in str(path):
            assert body["allowed_extensions"] == ["extension@sceau.fr"], body
        else:
            assert f"chrome-extension://{chrome_id}/" in body["allowed_origins"], body
    doctor = subprocess.run(["/usr/bin/sceau", "doctor", "--json"], capture_output=True, text=True, env=env)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    wired = checks["Browser connection"]
    assert wired["ok"], wired
    assert {str(p) for p in SYSTEM_MANIFESTS} <= set(wired["items"]), wired
    for path in Path("/etc/chromium/policies/managed"), Path("/etc/opt/chrome/policies/managed"):
        policy = json.loads((path / "sceau.json").read_text(encoding="utf-8"))
        assert policy["ExtensionInstallForcelist"] == [f"{chrome_id};file://{EXT_DIR}/updates.xml"], policy
    assert Path("/etc/xdg/autostart/fr.sceau.agent.desktop").is_file()
    assert Path("/usr/share/man/man1/sceau.1.gz").is_file()
    # Certificate login for Firefox: postinst put the token's module (found through p11-kit here:
    # SoftHSM2 and OpenSC register themselves) in the system SecurityDevices policy.
    firefox = json.loads(Path("/etc/firefox/policies/policies.json").read_text(encoding="utf-8"))["policies"]
    devices = firefox["SecurityDevices"].get("Add", firefox["SecurityDevices"])
    assert any(name.startswith("Sceau (") and Path(lib).exists() for name, lib in devices.items()), firefox


def verify_signature(work: Path, cert_b64: str, signature_b64: str, digest: bytes) -> None:
    """openssl checks the raw RSA PKCS#1 v1.5 signature over the SHA-256 digest."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(base64.b64decode(cert_b64))
    (work / "pub.pem").write_bytes(cert.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    (work / "sig.bin").write_bytes(base64.b64decode(signature_b64))
    (work / "digest.bin").write_bytes(digest)
    run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-sigfile",
            "sig.bin",
            "-in",
            "digest.bin",
            "-pkeyopt",
            "digest:sha256",
        ],
        cwd=work,
    )


def agent_is_installed_one(bridge: Bridge) -> int:
    pid = bridge.agent_pid()
    assert pid, "no agent running"
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert argv[0].decode().startswith(str(VENV) + "/bin/python"), argv
    return pid


def chromium_flow(work: Path, bridge: Bridge, rp: RelyingParty, pki: DevPki, env: dict[str, str], ext_id: str) -> None:
    from playwright.sync_api import sync_playwright

    origin = rp.origin(0)
    # The site is allowed beforehand, as the tray or an earlier visit would have done: Playwright does
    # not see the windows a policy-installed extension opens (nor its service worker), so the
    # first-use prompt is left to the e2e tests of the unpacked extension.
    TrustedSites(bridge.config.data_path()).grant(origin, ["list", "authenticate", "sign"])
    with sync_playwright() as pw:
        context = browsers.launch_chromium_plain(
            pw,
            work / "chromium-profile",
            {**env, "LANG": "fr_FR.UTF-8", "LC_ALL": "fr_FR.UTF-8"},
            ignore_https_errors=True,
        )
        try:
            page = browsers.wait_for_extension(context, origin + "/")
            installed = work / "chromium-profile" / "Default" / "Extensions"
            assert (installed / ext_id).is_dir(), list(installed.iterdir())  # the packaged CRX's id
            log("Chromium installed the extension from the policy")
            info = page.evaluate("Sceau.detect()")
            assert info["extension"] is True and info["agent"] is True, info
            listed = call(page, "Sceau.listCertificates({role: 'auth'})")
            assert listed["ok"], listed
            wanted = pki.cert("auth-rsa2048").public_bytes(Encoding.DER)
            (handle,) = [c["id"] for c in listed["result"] if base64.b64decode(c["certificate"]) == wanted]
            nonce = rp.nonces.issue()
            token = call(page, f"Sceau.authenticate({json.dumps(nonce)}, {{certificate: {json.dumps(handle)}}})")
            assert token["ok"], token
            validator(pki, origin, rp).validate(token["result"], nonce)
            signers = call(page, "Sceau.listCertificates({role: 'sign'})")
            assert signers["ok"], signers
            sign_der = pki.cert("sign-rsa2048").public_bytes(Encoding.DER)
            (sign_handle,) = [c["id"] for c in signers["result"] if base64.b64decode(c["certificate"]) == sign_der]
            digest = hashlib.sha256(b"offre Chromium").digest()
            b64 = json.dumps(base64.b64encode(digest).decode())
            signed = call(
                page, f"Sceau.signHash({{hash: {b64}, documentName: 'offre.pdf', certificate: '{sign_handle}'}})"
            )
            assert signed["ok"], signed
            verify_signature(work, signed["result"]["certificate"], signed["result"]["signature"], digest)
            agent_is_installed_one(bridge)
        finally:
            context.close()


def firefox_flow(work: Path, bridge: Bridge, rp: RelyingParty, pki: DevPki, env: dict[str, str]) -> None:
    origin = rp.origin(0)
    home = work / "firefox-home"
    home.mkdir()
    with browsers.firefox(work / "firefox-profile", {**env, "HOME": str(home)}, log=work / "firefox.log") as m:
        deadline = time.monotonic() + 60
        while True:  # the policy installs the add-on during startup; the page sees it once it runs
            m.navigate(origin + "/")
            if m.execute_script("return window.sceauReady === true", sandbox=None):
                break
            assert time.monotonic() < deadline, "Firefox never got the add-on from policies.json"
            time.sleep(1)

        def js(expression: str) -> Any:
            script = f"const done = arguments[arguments.length - 1]; window.run(() => {expression}).then(done);"
            return m.execute_async_script(script, sandbox=None, script_timeout=60_000)

        detected = js("Sceau.detect()")
        assert detected["ok"] and detected["result"]["extension"] and detected["result"]["agent"], detected
        # The site was allowed in Chromium before the upgrade: the grant survived it, no prompt now.
        listed = js("Sceau.listCertificates({role: 'auth'})")
        assert listed["ok"], listed
        wanted = pki.cert("auth-rsa2048").public_bytes(Encoding.DER)
        (handle,) = [c["id"] for c in listed["result"] if base64.b64decode(c["certificate"]) == wanted]
        nonce = rp.nonces.issue()
        token = js(f"Sceau.authenticate({json.dumps(nonce)}, {{certificate: {json.dumps(handle)}}})")
        assert token["ok"], token
        validator(pki, origin, rp).validate(token["result"], nonce)
        signers = js("Sceau.listCertificates({role: 'sign'})")
        sign_der = pki.cert("sign-rsa2048").public_bytes(Encoding.DER)
        (sign_handle,) = [c["id"] for c in signers["result"] if base64.b64decode(c["certificate"]) == sign_der]
        digest = hashlib.sha256(b"offre Firefox").digest()
        b64 = json.dumps(base64.b64encode(digest).decode())
        signed = js(f"Sceau.signHash({{hash: {b64}, documentName: 'offre.pdf', certificate: '{sign_handle}'}})")
        assert signed["ok"], signed
        verify_signature(work, signed["result"]["certificate"], signed["result"]["signature"], digest)
        agent_is_installed_one(bridge)


def second_user_agent(work: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """Another account's agent (only in the overlay: useradd writes /etc/passwd): its own socket."""
    home = work / "u2-home"
    run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", "sceau-deb-u2"])
    home.mkdir(mode=0o700)
    shutil.chown(home, "sceau-deb-u2", "sceau-deb-u2")
    work.chmod(0o755)  # the account must reach its home below our scratch folder
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(home / "run"), "PATH": "/usr/bin:/bin", "SCEAU_LANG": "en"}
    (home / "run").mkdir(mode=0o700)
    shutil.chown(home / "run", "sceau-deb-u2", "sceau-deb-u2")
    user = ["runuser", "-u", "sceau-deb-u2", "--", "/usr/bin/env", *(f"{k}={v}" for k, v in env.items())]
    log = work / "u2-agent.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*user, "/usr/bin/sceau", "agent", "--headless", "--yes"], stdout=out, stderr=out)
    sock = home / "run" / "sceau" / "agent.sock"
    deadline = time.monotonic() + 30
    while not sock.exists():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
        time.sleep(0.1)
    assert sock.stat().st_uid != os.getuid() and sock.stat().st_mode & 0o077 == 0, sock.stat()
    return proc, sock


def snapshot(data: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(data.glob("*.json*"))}


def scenario(args: argparse.Namespace, work: Path) -> Iterator[str]:
    upper = overlay(work) if args.isolate else None
    pcscd_before = pcscd_here()
    pki = DevPki.load(args.pki)
    bridge = Bridge.prepare(
        work / "user", module=args.module, softhsm_conf=args.softhsm_conf, env={**os.environ, **E2E_ENV}
    )
    env = {**bridge.env, "HOME": str(work / "home")}
    (work / "home").mkdir()
    rp = RelyingParty(work)
    rp.start()
    try:
        apt("install", str(args.old))
        assert installed_version() == dpkg_version(args.old), installed_version()
        yield f"installed {installed_version()}"
        assert not pcscd_here() - pcscd_before, "installing left a pcscd process running"
        ext_id = json.loads((EXT_DIR / "extension-ids.json").read_text())["chrome"][0]
        check_installed(env, ext_id)
        apt("install", str(args.old))  # configure again: the maintainer scripts are idempotent
        check_installed(env, ext_id)
        yield "manifests, policies, doctor: ok"
        chromium_flow(work, bridge, rp, pki, env, ext_id)
        yield "Chromium: extension from the policy, authenticate + sign through the installed host"

        data = bridge.config.data_path()
        before = snapshot(data)
        assert {"sites.json", "journal.jsonl"} <= set(before), before
        running = agent_is_installed_one(bridge)
        apt("install", str(args.new))
        assert installed_version() == dpkg_version(args.new), installed_version()
        yield f"upgraded to {installed_version()}"
        assert not Path(f"/proc/{running}").exists(), "the old agent survived the upgrade"
        assert snapshot(data) == before, "the upgrade changed the user's trusted sites or journal"
        check_installed(env, ext_id)
        firefox_flow(work, bridge, rp, pki, env)
        yield "Firefox ESR: add-on from policies.json, authenticate + sign through the installed host"

        assert our_processes(), "the agent Firefox started should still run before purge"
        if args.isolate:  # two users, two agents, two sockets; removal stops both
            other, other_sock = second_user_agent(work)
            assert other_sock != bridge.config.runtime_path() / "agent.sock"
            yield "a second user's agent runs beside ours, with its own socket"
        apt("purge", "sceau")
        yield "purged"
        assert installed_version() is None
        assert not our_processes(), f"processes left after purge: {our_processes()}"
        if args.isolate:
            assert other.wait(10) is not None
        for path in [*SYSTEM_MANIFESTS, Path("/etc/firefox/policies/policies.json"), Path("/usr/bin/sceau")]:
            assert not path.exists(), path
        assert not VENV.exists() and not Path("/var/lib/sceau").exists()
        if upper is not None:
            left = leftovers(upper)
            assert not left, f"purge left: {left}"
        yield "nothing left behind"
    finally:
        rp.stop()
        if installed_version() is not None:
            apt("purge", "sceau")  # whatever failed: the package never outlives the scenario


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--new", type=Path, required=True)
    parser.add_argument("--old", type=Path, required=True)
    parser.add_argument("--pki", type=Path, required=True)
    parser.add_argument("--module", required=True)
    parser.add_argument("--softhsm-conf", type=Path, required=True)
    parser.add_argument("--isolate", action="store_true", help="overlay /etc, /usr, /var (needs a mount namespace)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sceau-deb-") as tmp:
        for step in scenario(args, Path(tmp)):
            log(step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
