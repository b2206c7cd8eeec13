"""TLS client-certificate login in Firefox ESR headless (marionette) through the `SecurityDevices` policy.

Other tests' Firefox runs must not see this policy, so Firefox is a hard-linked copy of
/usr/lib/firefox-esr whose `distribution/policies.json` (a folder of its own) is the file the CLI
edits: `sceau browsers tls-policy --browser firefox` (certificate chosen automatically), then
`sceau browsers enable-tls-login --system --firefox-policies …` (the token module). The test checks
that this build read the policy (Firefox copies the module into the fresh profile's pkcs11.txt) and
that the server received the token's certificate (and that without the registration the handshake
fails). The token logs in through a PIN-pad path
(pinlimit with PINLIMIT_PINPAD, with the delay of a person typing on the pad), so no PIN is typed
anywhere. A second part runs `enable-tls-login` against the profile while this Firefox holds it:
refused, profile untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from examples.platform.tls_login import TlsLoginServer
from sceau.devkit import softhsm
from sceau.devkit.browsers import FIREFOX_PREFS as PREFS
from sceau.devkit.browsers import free_port
from sceau.devkit.pki import DevPki

FIREFOX_DIR = Path("/usr/lib/firefox-esr")


@pytest.fixture(scope="module")
def tls_server(pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsLoginServer]:
    server = TlsLoginServer(pki, tmp_path_factory.mktemp("ff-tls-login"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def firefox_copy(root: Path) -> Path:
    """Hard links of the install (same file system: instant), with a private distribution folder."""
    copy = root / "firefox"
    try:
        shutil.copytree(FIREFOX_DIR, copy, symlinks=True, copy_function=os.link)
    except OSError:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(FIREFOX_DIR, copy, symlinks=True)
    dist = copy / "distribution"
    if dist.is_symlink() or dist.is_file():
        target = dist.resolve()
        dist.unlink()
        shutil.copytree(target, dist) if target.is_dir() else dist.mkdir()
    dist.mkdir(exist_ok=True)
    (dist / "policies.json").unlink(missing_ok=True)
    return copy


def sceau(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sceau.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@contextlib.contextmanager
def launch_firefox(root: Path, register: bool, env_base: dict[str, str], module: Path) -> Iterator[dict[str, Any]]:
    """A private Firefox install whose policies.json the CLI wrote, on a fresh profile, under marionette."""
    from marionette_driver.marionette import Marionette

    home, profile = root / "home", root / "home/.mozilla/firefox/tls.default"
    profile.mkdir(parents=True)
    (home / ".mozilla/firefox/profiles.ini").write_text("[Profile0]\nName=tls\nIsRelative=1\nPath=tls.default\n")
    install = firefox_copy(root)
    policies = install / "distribution" / "policies.json"
    env = dict(env_base, HOME=str(home), PINLIMIT_STATE=str(root / "pinlimit.state"))
    made = sceau("browsers", "tls-policy", "--browser", "firefox", "-o", str(policies), env=env)
    assert made.returncode == 0, made.stderr
    if register:
        enabled = sceau(
            *("browsers", "enable-tls-login", "--system", "--browser", "firefox"),
            *("--firefox-policies", str(policies), "--module", str(module)),
            env=env,
        )
        assert enabled.returncode == 0, enabled.stdout + enabled.stderr

    port = free_port()
    prefs = {**PREFS, "marionette.port": port}
    (profile / "user.js").write_text(
        "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items()), encoding="utf-8"
    )
    log = open(root / "firefox.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(install / "firefox-esr"), "--headless", "--marionette", "--no-remote", "--profile", str(profile)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = Marionette(host="127.0.0.1", port=port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.start_session({"acceptInsecureCerts": True})  # the demo CA is not in Firefox's roots
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("Firefox did not start: " + (root / "firefox.log").read_text(errors="replace")[-2000:])
                time.sleep(0.2)
        yield {"client": client, "profile": profile, "env": env, "policies": policies, "root": root}
    finally:
        with contextlib.suppress(Exception):
            client.delete_session()
        proc.kill()
        proc.wait()
        log.close()
        shutil.rmtree(root / "firefox", ignore_errors=True)


@pytest.fixture(scope="module")
def ff_env(softhsm_module: str, softhsm_conf: Path) -> dict[str, str]:
    if not FIREFOX_DIR.is_dir():
        pytest.fail("firefox-esr is missing: `make test` installs it (apt-get install firefox-esr)")
    return dict(
        os.environ,
        SOFTHSM2_CONF=str(softhsm_conf),
        PINLIMIT_MODULE=softhsm_module,
        PINLIMIT_PINPAD=softhsm.USER_PIN,
        PINLIMIT_PINPAD_DELAY_MS="1500",
        SCEAU_LANG="en",
    )


@pytest.fixture(scope="module")
def firefox(
    tmp_path_factory: pytest.TempPathFactory, ff_env: dict[str, str], pinlimit_module: Path
) -> Iterator[dict[str, Any]]:
    with launch_firefox(tmp_path_factory.mktemp("ff-tls"), True, ff_env, pinlimit_module) as ff:
        yield ff


def load_page(client: Any, url: str) -> str:
    """The page text, or the error marionette reports (an error page for a refused handshake)."""
    result: list[str] = []

    def load() -> None:  # marionette has no timeout of its own while a token dialog blocks the load
        try:
            client.navigate(url)
            result.append(client.execute_script("return document.body.innerText", sandbox=None))
        except Exception as exc:
            result.append(f"ERROR {exc}")

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    loader.join(60)
    assert result, "the page did not load (Firefox waits on the token login?)"
    return result[0]


def test_firefox_without_security_devices_the_handshake_fails(
    tmp_path: Path, ff_env: dict[str, str], tls_server: TlsLoginServer, pinlimit_module: Path
) -> None:
    with launch_firefox(tmp_path, False, ff_env, pinlimit_module) as ff:
        before = len(tls_server.seen)
        text = load_page(ff["client"], f"{tls_server.origin}/")
        assert "Bienvenue" not in text and "about:neterror" in text, text
        assert len(tls_server.seen) == before
        assert "Sceau (" not in (ff["profile"] / "pkcs11.txt").read_text()


def test_firefox_security_devices_policy_logs_in_with_the_token(
    firefox: dict[str, Any], tls_server: TlsLoginServer, pki: DevPki, pinlimit_module: Path
) -> None:
    client = firefox["client"]
    # This Firefox build read distribution/policies.json: it registered the module in the profile.
    pkcs11 = (firefox["profile"] / "pkcs11.txt").read_text()
    assert f"library={pinlimit_module}" in pkcs11 and "name=Sceau (pinlimit.so)" in pkcs11, pkcs11
    before = len(tls_server.seen)
    text = load_page(client, f"{tls_server.origin}/")
    assert "Bienvenue," in text, text
    received = tls_server.seen[before:]
    # "Select Automatically" takes the first authentication certificate the server's CA list matches.
    on_token = {pki.cert(n).public_bytes(Encoding.DER) for n, i in pki.identities.items() if i.on_token}
    assert received and set(received) <= on_token
    assert (firefox["root"] / "pinlimit.state").read_text().strip() == "0"


def test_profile_in_use_by_running_firefox_is_left_alone(firefox: dict[str, Any], softhsm_module: str) -> None:
    profile = firefox["profile"]
    before = (profile / "pkcs11.txt").read_bytes()
    proc = sceau("browsers", "enable-tls-login", "--browser", "firefox", "--module", softhsm_module, env=firefox["env"])
    assert proc.returncode != 0
    assert "Firefox is running" in proc.stdout and "close it" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr
    assert (profile / "pkcs11.txt").read_bytes() == before
