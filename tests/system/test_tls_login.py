"""`sceau browsers enable-tls-login` / `disable-tls-login` on real NSS databases (modutil, certutil),
HOME pointed at a throw-away folder; the Firefox policy file is a path given on the command line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sceau.cli import main
from sceau.devkit.pki import DevPki
from sceau.errors import InvalidInput
from sceau.protocol.constants import ExitCode
from sceau.system import firefox_policy, tls_login
from sceau.system.nssdb import NssDatabase
from sceau.system.tls_login import Browser, Status

PROXY = next((p for p in tls_login.P11KIT_PROXY if Path(p).is_file()), None)
TRUST = next(
    (
        p
        for p in (
            "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-trust.so",
            "/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-trust.so",
        )
        if Path(p).is_file()
    ),
    None,
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    profile = h / ".mozilla/firefox/abcd.default-esr"
    profile.mkdir(parents=True)
    (h / ".mozilla/firefox/profiles.ini").write_text(
        "[Profile0]\nName=default-esr\nIsRelative=1\nPath=abcd.default-esr\nDefault=1\n"
    )
    monkeypatch.setenv("HOME", str(h))
    return h


def nss_modules(folder: Path) -> list[tuple[str, str]]:
    return [(m.name, m.library) for m in NssDatabase(folder).modules()]


def chromium_db(home: Path) -> Path:
    return home / ".pki/nssdb"


def firefox_db(home: Path) -> Path:
    return home / ".mozilla/firefox/abcd.default-esr"


def test_enable_twice_registers_once_then_disable_removes_it(
    home: Path, softhsm_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["browsers", "enable-tls-login", "--module", softhsm_module]) == 0
    assert main(["browsers", "enable-tls-login", "--module", softhsm_module]) == 0
    out = capsys.readouterr().out
    assert out.count("restart the browser") == 2 and out.count("already registered") == 2, out
    for db in (chromium_db(home), firefox_db(home)):
        ours = [m for m in nss_modules(db) if m[1] == softhsm_module]
        assert ours == [("Sceau (libsofthsm2.so)", softhsm_module)]
    # NSS itself (not our pkcs11.txt reader) sees the token's certificates through the module.
    names = NssDatabase(chromium_db(home)).token_certificates()
    assert "Sceau Test:auth-rsa2048" in names

    assert main(["browsers", "disable-tls-login"]) == 0
    for db in (chromium_db(home), firefox_db(home)):
        assert not [m for m in nss_modules(db) if m[0].startswith("Sceau (")]
    assert main(["browsers", "disable-tls-login"]) == 0
    assert "nothing registered by Sceau" in capsys.readouterr().out


@pytest.mark.skipif(TRUST is None, reason="p11-kit-modules not installed")
def test_disable_keeps_a_module_the_user_registered(home: Path, softhsm_module: str) -> None:
    assert TRUST is not None
    db = NssDatabase(chromium_db(home))
    db.create()
    db.add("Mes AC", TRUST)
    assert main(["browsers", "enable-tls-login", "--browser", "chromium", "--module", softhsm_module]) == 0
    assert sorted(nss_modules(chromium_db(home))) == sorted(
        [("Mes AC", TRUST), ("Sceau (libsofthsm2.so)", softhsm_module)]
    )
    assert main(["browsers", "disable-tls-login", "--browser", "chromium"]) == 0
    assert nss_modules(chromium_db(home)) == [("Mes AC", TRUST)]
    # The same library the user already registered is not added a second time under our name.
    target = tls_login.targets(home, [Browser.CHROMIUM])[0]
    again = tls_login.enable_target(target, [tls_login.ChosenModule("Sceau (p11-kit-trust)", TRUST)])
    assert again.status is Status.USER and "Mes AC" in again.message
    assert nss_modules(chromium_db(home)) == [("Mes AC", TRUST)]


@pytest.mark.skipif(PROXY is None, reason="p11-kit-proxy not installed")
def test_user_registered_p11_kit_proxy_already_serves_the_token(home: Path, softhsm_module: str) -> None:
    assert PROXY is not None
    db = NssDatabase(chromium_db(home))
    db.create()
    db.add("p11-kit", PROXY)
    target = tls_login.targets(home, [Browser.CHROMIUM])[0]
    outcome = tls_login.enable_target(target, [tls_login.ChosenModule("Sceau (SoftHSM)", softhsm_module)])
    assert outcome.status is Status.USER and "p11-kit" in outcome.message
    assert nss_modules(chromium_db(home)) == [("p11-kit", PROXY)]


def test_switching_module_replaces_only_sceau_entry(home: Path, softhsm_module: str, pinlimit_module: Path) -> None:
    os.environ.setdefault("PINLIMIT_MODULE", softhsm_module)
    assert main(["browsers", "enable-tls-login", "--browser", "chromium", "--module", softhsm_module]) == 0
    assert main(["browsers", "enable-tls-login", "--browser", "chromium", "--module", str(pinlimit_module)]) == 0
    assert nss_modules(chromium_db(home)) == [("Sceau (pinlimit.so)", str(pinlimit_module))]


OPENSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"


@pytest.mark.skipif(PROXY is None or not Path(OPENSC).is_file(), reason="p11-kit-proxy or OpenSC not installed")
def test_several_modules_give_p11_kit_proxy_when_it_serves_them_all(softhsm_module: str, pinlimit_module: Path) -> None:
    assert PROXY is not None
    # SoftHSM2 and OpenSC register with p11-kit (their Debian packages ship a .module file).
    assert {os.path.realpath(softhsm_module), os.path.realpath(OPENSC)} <= tls_login.p11kit_served(PROXY)
    chosen = tls_login.choose_modules(configured=[softhsm_module, OPENSC])
    assert chosen == [tls_login.ChosenModule("Sceau (p11-kit-proxy)", PROXY)]
    # pinlimit is unknown to p11-kit: the proxy would not load it, so each module is registered itself.
    chosen = tls_login.choose_modules(configured=[str(pinlimit_module), softhsm_module])
    assert PROXY not in [c.library for c in chosen]
    assert {str(pinlimit_module), softhsm_module} <= {c.library for c in chosen}
    assert len({c.name for c in chosen}) == len(chosen)
    assert tls_login.choose_modules(str(pinlimit_module)) == [
        tls_login.ChosenModule("Sceau (pinlimit.so)", str(pinlimit_module))
    ]


def test_several_modules_registered_then_removed_together(home: Path, softhsm_module: str) -> None:
    if not Path(OPENSC).is_file():
        pytest.skip("OpenSC not installed")
    modules = [
        tls_login.ChosenModule("Sceau (SoftHSM)", softhsm_module),
        tls_login.ChosenModule("Sceau (OpenSC)", OPENSC),
    ]
    target = tls_login.targets(home, [Browser.CHROMIUM])[0]
    assert tls_login.enable_target(target, modules).status is Status.ADDED
    assert tls_login.enable_target(target, modules).status is Status.ALREADY
    assert sorted(nss_modules(chromium_db(home))) == sorted((m.name, m.library) for m in modules)
    # Choosing one of them later drops Sceau's entry for the other.
    assert tls_login.enable_target(target, modules[:1]).status is Status.ALREADY
    assert nss_modules(chromium_db(home)) == [("Sceau (SoftHSM)", softhsm_module)]


def test_no_nss_tools_names_the_debian_package(home: Path, softhsm_module: str) -> None:
    env = dict(os.environ, PATH="/nonexistent", SCEAU_LANG="en")
    proc = subprocess.run(
        [sys.executable, "-m", "sceau.cli", "browsers", "enable-tls-login", "--module", softhsm_module],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == ExitCode.ERROR
    assert "libnss3-tools" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not chromium_db(home).exists()


def test_corrupt_database_is_reported_and_left_alone(
    home: Path, softhsm_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = NssDatabase(chromium_db(home))
    db.create()
    (chromium_db(home) / "cert9.db").write_bytes(b"not a database" * 300)
    before = (chromium_db(home) / "pkcs11.txt").read_bytes()
    assert main(["browsers", "enable-tls-login", "--browser", "chromium", "--module", softhsm_module]) == ExitCode.ERROR
    out = capsys.readouterr().out
    assert "✘" in out and str(chromium_db(home)) in out and "move the folder away" in out, out
    assert (chromium_db(home) / "pkcs11.txt").read_bytes() == before


def test_locked_database_is_reported_and_left_alone(home: Path, softhsm_module: str) -> None:
    db = NssDatabase(chromium_db(home))
    db.create()
    before = (chromium_db(home) / "pkcs11.txt").read_bytes()
    # Another writer holds both sqlite databases (what a crashed or busy NSS program leaves).
    locks = [sqlite3.connect(chromium_db(home) / f, isolation_level=None) for f in ("cert9.db", "key4.db")]
    try:
        for c in locks:
            c.execute("BEGIN EXCLUSIVE")
        target = tls_login.targets(home, [Browser.CHROMIUM])[0]
        outcome = tls_login.enable_target(target, [tls_login.ChosenModule("Sceau (SoftHSM)", softhsm_module)])
    finally:
        for c in locks:
            c.close()
    assert outcome.status is Status.ERROR and "Close the browsers" in outcome.message
    assert (chromium_db(home) / "pkcs11.txt").read_bytes() == before


def test_chromium_running_leaves_the_database_alone(home: Path, softhsm_module: str) -> None:
    # Chromium's own lock: ~/.config/chromium/SingletonLock -> "HOST-PID" (here: this test's PID).
    import socket

    (home / ".config/chromium").mkdir(parents=True)
    os.symlink(f"{socket.gethostname()}-{os.getpid()}", home / ".config/chromium/SingletonLock")
    target = tls_login.targets(home, [Browser.CHROMIUM])[0]
    outcome = tls_login.enable_target(target, [tls_login.ChosenModule("Sceau (SoftHSM)", softhsm_module)])
    assert outcome.status is Status.IN_USE and "Chromium is running" in outcome.message
    assert not chromium_db(home).exists()


def test_firefox_policy_keeps_other_policies(tmp_path: Path, softhsm_module: str) -> None:
    path = tmp_path / "policies.json"
    other = {"ExtensionSettings": {"x@y": {"installation_mode": "force_installed"}}}
    path.write_text(json.dumps({"policies": dict(other, SecurityDevices={"Add": {"Ma carte": "/lib/x.so"}})}))
    module = [tls_login.ChosenModule("Sceau (SoftHSM)", softhsm_module)]
    assert firefox_policy.enable_firefox_policy(path, module).status is Status.ADDED
    assert firefox_policy.enable_firefox_policy(path, module).status is Status.ALREADY
    data = json.loads(path.read_text())["policies"]
    assert data["ExtensionSettings"] == other["ExtensionSettings"]
    assert data["SecurityDevices"] == {"Add": {"Ma carte": "/lib/x.so", "Sceau (SoftHSM)": softhsm_module}}
    assert firefox_policy.registered_in_policy(path) == ["Sceau (SoftHSM)"]
    assert firefox_policy.disable_firefox_policy(path).status is Status.REMOVED
    data = json.loads(path.read_text())["policies"]
    # "Delete" makes Firefox drop the copy it made in each profile; the user's device stays.
    assert data["SecurityDevices"] == {"Add": {"Ma carte": "/lib/x.so"}, "Delete": ["Sceau (SoftHSM)"]}
    assert data["ExtensionSettings"] == other["ExtensionSettings"]
    assert firefox_policy.enable_firefox_policy(path, module).status is Status.ADDED
    assert "Delete" not in json.loads(path.read_text())["policies"]["SecurityDevices"]


def test_firefox_policy_forget_leaves_nothing_of_ours(tmp_path: Path, softhsm_module: str) -> None:
    """Package removal: no Sceau name stays, not even under "Delete"; the user's device stays, and a
    file that held only ours is removed."""
    path = tmp_path / "policies.json"
    path.write_text(json.dumps({"policies": {"SecurityDevices": {"Add": {"Ma carte": "/lib/x.so"}}}}))
    module = [tls_login.ChosenModule("Sceau (SoftHSM)", softhsm_module)]
    assert firefox_policy.enable_firefox_policy(path, module).status is Status.ADDED
    assert firefox_policy.disable_firefox_policy(path).status is Status.REMOVED  # now under "Delete"
    assert firefox_policy.disable_firefox_policy(path, forget=True).status is Status.REMOVED
    assert json.loads(path.read_text())["policies"] == {"SecurityDevices": {"Add": {"Ma carte": "/lib/x.so"}}}
    assert firefox_policy.disable_firefox_policy(path, forget=True).status is Status.ABSENT

    only_ours = tmp_path / "ours.json"
    assert firefox_policy.enable_firefox_policy(only_ours, module).status is Status.ADDED
    assert firefox_policy.disable_firefox_policy(only_ours, forget=True).status is Status.REMOVED
    assert not only_ours.exists()


def test_firefox_policy_flat_form_and_invalid_file(tmp_path: Path, softhsm_module: str) -> None:
    path = tmp_path / "policies.json"
    path.write_text(json.dumps({"policies": {"SecurityDevices": {"Ma carte": "/lib/x.so"}}}))
    module = [tls_login.ChosenModule("Sceau (SoftHSM)", softhsm_module)]
    firefox_policy.enable_firefox_policy(path, module)
    assert json.loads(path.read_text())["policies"]["SecurityDevices"] == {
        "Ma carte": "/lib/x.so",
        "Sceau (SoftHSM)": softhsm_module,
    }
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    code = main(
        ["browsers", "enable-tls-login", "--system", "--firefox-policies", str(broken), "--module", softhsm_module]
    )
    assert code == ExitCode.ERROR
    assert broken.read_text() == "{ not json"


def doctor_tls(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    main(["doctor", "--json"])
    return {c["name"]: c for c in json.loads(capsys.readouterr().out) if c["name"].startswith("TLS login")}


def test_doctor_reports_registration_and_visible_certificates(
    home: Path, softhsm_module: str, pki: DevPki, capsys: pytest.CaptureFixture[str]
) -> None:
    before = doctor_tls(capsys)
    chromium = before["TLS login: Chromium / Chrome / Edge (~/.pki/nssdb)"]
    assert not chromium["ok"] and chromium["fix"] == "sceau browsers enable-tls-login"
    assert not before["TLS login: Firefox profile abcd.default-esr"]["ok"]

    assert main(["browsers", "enable-tls-login", "--module", softhsm_module]) == 0
    capsys.readouterr()
    after = doctor_tls(capsys)
    for name in ("TLS login: Chromium / Chrome / Edge (~/.pki/nssdb)", "TLS login: Firefox profile abcd.default-esr"):
        check = after[name]
        assert check["ok"] and "Sceau (libsofthsm2.so)" in check["detail"], check
        # Authentication certificates only (clientAuth EKU), as NSS lists them from the token.
        wanted = {f"Sceau Test:{n}" for n, i in pki.identities.items() if i.on_token and i.role == "auth"}
        assert set(check["items"]) == wanted, check["items"]


def test_module_that_does_not_load_is_reported(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "libbroken.so"
    broken.write_bytes(b"\x7fELF not really")
    assert main(["browsers", "enable-tls-login", "--browser", "chromium", "--module", str(broken)]) == ExitCode.ERROR
    out = capsys.readouterr().out
    assert "NSS could not load the module" in out and str(broken) in out, out
    assert [m for m in nss_modules(chromium_db(home)) if m[1] == str(broken)] == []


def test_missing_module_file_is_a_clear_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["browsers", "enable-tls-login", "--module", "/nonexistent/lib.so"]) == ExitCode.ERROR
    assert "PKCS#11 module not found: /nonexistent/lib.so" in capsys.readouterr().err


def test_firefox_policy_without_rights_says_sudo(softhsm_module: str) -> None:
    # Root may write anywhere on disk; /sys refuses even root the temporary file (EACCES), as
    # /etc/firefox refuses a user.
    target = Path("/sys/policies.json")
    with pytest.raises(
        InvalidInput, match=r"needs administrator rights: sudo sceau browsers enable-tls-login --system"
    ):
        firefox_policy.enable_firefox_policy(target, [tls_login.ChosenModule("Sceau (SoftHSM)", softhsm_module)])
    assert not target.exists()
