"""End to end: `sceau demo --serve --walkthrough` on a demo SoftHSM2 token of its own.

Real Chromium with the extension, real native host and agent (headless, auto-approving with the
demo PIN), the platform on http://localhost: login, deposit (sign + encrypt), award signatures,
bid opening (decrypt), ACTES and Hélios — every step's server-side check with openssl, xmlsec1
or pyHanko, as the other tests of this folder show them failing on bad input.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from examples.platform import serve
from sceau.devkit import pki as devpki
from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """Its own PKI and token directory, as `make demo` has: the session's token directory also
    holds other suites' tokens with look-alike certificates (same names, other CAs)."""
    pki = devpki.generate(tmp_path_factory.mktemp("demo-pki"))
    softhsm.create_token(pki)
    return pki


@pytest.mark.parametrize("https", [False, True], ids=["http-localhost-dev-mode", "https-demo-certificate"])
def test_scripted_walkthrough(
    demo_pki: DevPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], https: bool
) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Debian chromium is missing: `make test` installs it (apt-get install chromium)")
    monkeypatch.delenv("DISPLAY", raising=False)  # headless browser and agent, whatever the machine
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    pki = demo_pki
    code = serve(pki, 0, walkthrough=True, root=tmp_path / "demo", https=https)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "9/9" in out  # "Parcours : 9/9 étapes réussies." (French by default)
    for expected in (
        "SIREN 552100554",
        "accusé de réception AR-2026-017-",
        "3 signatures vérifiées",
        "4 fichiers, 2 signatures valides",
        "AR 049-214901234-",
        "2 bordereaux signés et vérifiés",
    ):
        assert expected in out, expected
    # The auto-approving agent is announced with its PIN, never silently.
    assert f"{softhsm.USER_PIN}." in out and ("SANS fenêtres" in out or "WITHOUT dialogs" in out)
    shots = sorted(p.name for p in (tmp_path / "demo" / "screenshots").glob("*.png"))
    assert len(shots) == 9 and shots[0] == "01-accueil.png"
    manifest = tmp_path / "demo" / "chromium-profile" / "NativeMessagingHosts" / "fr.sceau.agent.json"
    assert manifest.is_file()
    config = (tmp_path / "demo" / "cfg" / "sceau" / "config.toml").read_text()
    assert f"dev_mode = {'false' if https else 'true'}" in config  # https needs no dev mode
    if https:
        # The browser trusted the demo server's key only; the certificate chains to the demo root.
        assert "Demo platform: https://localhost:" in out or "démonstration : https://localhost:" in out
        chain = (tmp_path / "demo" / "tls" / "localhost-chain.pem").read_bytes()
        leaf = chain[: chain.index(b"-----END CERTIFICATE-----") + 25]
        (tmp_path / "leaf.pem").write_bytes(leaf)
        res = subprocess.run(
            [
                "openssl",
                "verify",
                "-CAfile",
                str(pki.root_ca),
                "-untrusted",
                str(pki.intermediate_ca),
                "-purpose",
                "sslserver",
                str(tmp_path / "leaf.pem"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0, res.stdout + res.stderr
