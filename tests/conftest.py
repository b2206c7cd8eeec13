"""Session fixtures: the throw-away PKI and a SoftHSM2 token made for this test run.

`SOFTHSM2_CONF` must point at our token directory before the SoftHSM2 module is first loaded
in this process, so the PKI and token are created in `pytest_configure`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sceau.devkit import pki as devpki
from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki
from sceau.tokens.pkcs11 import Pkcs11Backend, Pkcs11Token
from sceau.tokens.pkcs12 import Pkcs12Token
from sceau.ui.headless import HeadlessUI

_STATE: dict[str, object] = {}


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    # Messages are French by default; tests assert English texts unless they ask for French.
    os.environ.setdefault("SCEAU_LANG", "en")
    module = softhsm.find_module()
    if module is None or shutil.which("softhsm2-util") is None:
        raise pytest.UsageError(
            "SoftHSM2 is missing: run `make test` (it installs softhsm2) or apt-get install softhsm2"
        )
    root = Path(tempfile.mkdtemp(prefix="sceau-pki-"))
    pki = devpki.generate(root)
    conf = softhsm.create_token(pki)
    os.environ["SOFTHSM2_CONF"] = str(conf)
    _STATE.update(root=root, pki=pki, module=module, conf=conf)


def pytest_unconfigure(config: pytest.Config) -> None:
    root = _STATE.get("root")
    if isinstance(root, Path) and not os.environ.get("SCEAU_KEEP_PKI"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pki() -> DevPki:
    value = _STATE["pki"]
    assert isinstance(value, DevPki)
    return value


@pytest.fixture(scope="session")
def softhsm_module() -> str:
    return str(_STATE["module"])


@pytest.fixture(scope="session")
def softhsm_conf() -> Path:
    return Path(str(_STATE["conf"]))


@pytest.fixture
def p11_backend(softhsm_module: str) -> Iterator[Pkcs11Backend]:
    backend = Pkcs11Backend([softhsm_module])
    yield backend
    backend.close()


@pytest.fixture
def p11_token(p11_backend: Pkcs11Backend) -> Pkcs11Token:
    tokens = [t for t in p11_backend.tokens() if t.info.label == softhsm.TOKEN_LABEL]
    assert tokens, "test token missing"
    token = tokens[0]
    assert isinstance(token, Pkcs11Token)
    return token


@pytest.fixture
def p12_token(pki: DevPki) -> Callable[[str], Pkcs12Token]:
    def make(name: str, password: str | None = devpki.P12_PASSWORD) -> Pkcs12Token:
        return Pkcs12Token(Path(pki[name].p12), password)

    return make


@pytest.fixture
def ui() -> HeadlessUI:
    return HeadlessUI(pin=softhsm.USER_PIN, approve=True)


@pytest.fixture
def cli_env(softhsm_conf: Path) -> dict[str, str]:
    """Environment for running the `sceau` CLI in a subprocess against the test token."""
    return dict(
        os.environ,
        SOFTHSM2_CONF=str(softhsm_conf),
        SCEAU_PIN=softhsm.USER_PIN,
        SCEAU_P12_PASSWORD=devpki.P12_PASSWORD,
        SCEAU_LANG="en",
    )


@pytest.fixture
def token_copy(pki: DevPki, softhsm_conf: Path, tmp_path: Path) -> Path:
    """A private copy of the test token (destructive tests change its PIN state)."""
    tokens = tmp_path / "tokens"
    shutil.copytree(softhsm_conf.parent / "tokens", tokens)
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    return conf


@pytest.fixture(scope="session")
def pinlimit_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pinlimit") / "pinlimit.so"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O2",
            "-I/usr/include/p11-kit-1",
            "-o",
            str(out),
            str(Path(__file__).resolve().parent / "tokens" / "pinlimit" / "pinlimit.c"),
            "-ldl",
        ],
        check=True,
    )
    return out
