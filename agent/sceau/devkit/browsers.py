"""Browsers as an installed Sceau meets them: Chromium and Firefox ESR with a fresh profile and no
development flags, so the extension can only come from the browsers' policies (the Debian package's
provisioning) and the native host only from the system manifests.

Chromium: Playwright's default arguments block policy installs (`--disable-extensions`,
`--disable-component-update`, …: DESIGN.md §7), so they are dropped. Firefox: `firefox-esr
--headless --marionette` driven by the PyPI `marionette-driver` client.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sceau.devkit.bridge import CHROMIUM, BridgeError

FIREFOX = "/usr/bin/firefox-esr"
# Playwright's defaults that stop Chromium from installing force-listed extensions.
CHROMIUM_BLOCKING_DEFAULTS = [
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
]
FIREFOX_PREFS = {
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "app.update.disabledForTesting": True,
    "browser.aboutwelcome.enabled": False,
}


def launch_chromium_plain(playwright: Any, profile: Path, env: Mapping[str, str], **options: Any) -> Any:
    """Debian's Chromium, fresh `profile`, no `--load-extension` and no manifest in the profile."""
    if not Path(CHROMIUM).exists():
        raise BridgeError("Debian chromium is missing (apt-get install chromium)")
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        env=dict(env),
        args=["--no-sandbox", "--no-first-run", "--lang=fr"],
        ignore_default_args=CHROMIUM_BLOCKING_DEFAULTS,
        **{"locale": "fr-FR", **options},
    )


def wait_for_extension(context: Any, page_url: str, timeout: float = 60.0) -> Any:
    """A tab on `page_url` (a page with sceau.js) once the extension answers there. Policy installs
    happen after start-up; the page is reloaded until its content script runs."""
    page = context.new_page()
    deadline = time.monotonic() + timeout
    while True:
        page.goto(page_url)
        page.wait_for_function("window.sceauReady === true")
        info = page.evaluate("Sceau.detect()")
        if info.get("extension"):
            return page
        if time.monotonic() > deadline:
            raise BridgeError(f"the extension was not installed within {timeout:.0f} s: {info}")
        time.sleep(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def firefox(profile: Path, env: Mapping[str, str], *, log: Path, timeout: float = 60.0) -> Iterator[Any]:
    """Firefox ESR under Marionette with a fresh `profile`; yields the client, kills Firefox after."""
    from marionette_driver.marionette import Marionette  # type: ignore[import-untyped]

    if not Path(FIREFOX).exists():
        raise BridgeError("firefox-esr is missing (apt-get install firefox-esr)")
    profile.mkdir(parents=True, exist_ok=True)
    port = free_port()
    prefs = {**FIREFOX_PREFS, "marionette.port": port}
    (profile / "user.js").write_text(
        "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items()), encoding="utf-8"
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [FIREFOX, "--headless", "--marionette", "--no-remote", "--profile", str(profile)],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            client = Marionette(host="127.0.0.1", port=port)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    client.start_session({"acceptInsecureCerts": True})
                    break
                except Exception as exc:  # marionette raises socket errors and its own until it listens
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise BridgeError("Firefox did not start: " + log.read_text(errors="replace")[-2000:]) from exc
                    time.sleep(0.2)
            yield client
            with contextlib.suppress(Exception):
                client.delete_session()
        finally:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def firefox_with_extension(root: Path, env: Mapping[str, str], *, timeout: float = 60.0) -> Iterator[Any]:
    """Firefox ESR under Marionette as a developer runs it: the extension built from the source tree
    (`build_firefox.py`) installed as a temporary add-on, the native host in a private HOME's user
    manifest folder. Yields the Marionette client; Firefox is killed and the HOME removed after."""
    import shutil
    import sys

    from marionette_driver.addons import Addons  # type: ignore[import-untyped]

    from sceau.devkit.bridge import EXTENSION, host_launcher
    from sceau_native_host.manifests import write_manifest

    home = root / "home"
    home.mkdir(parents=True)
    write_manifest(home / ".mozilla" / "native-messaging-hosts", "firefox", host_launcher())
    subprocess.run(
        [sys.executable, str(EXTENSION / "build_firefox.py"), "--out", str(root / "build")],
        check=True,
        capture_output=True,
    )
    try:
        with firefox(root / "profile", {**env, "HOME": str(home)}, log=root / "firefox.log", timeout=timeout) as client:
            Addons(client).install(str(root / "build" / "sceau-firefox.xpi"), temp=True)
            yield client
    finally:
        shutil.rmtree(home, ignore_errors=True)
