"""Fixtures for the signature formats: local TSA/OCSP/CRL, a PKI whose certificates point at them,
and the same keys through both backends (PKCS#12 and SoftHSM2).

The session PKI from tests/conftest.py has no CRL/OCSP URLs, which B-LT needs. We generate a
second PKI with URLs at collection time and import it into the session's SoftHSM2 token
directory *before* any test loads the module (SoftHSM2 scans its token directory once).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sceau.devkit import pki as devpki
from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki
from sceau.devkit.services import DevServices
from sceau.formats.signer import TokenKey
from sceau.formats.tsp import TsaClient
from sceau.tokens.base import Token
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.pkcs12 import Pkcs12Token

FORMATS_TOKEN = "Sceau Formats"
_SERVICES = DevServices()
_ROOT = Path(tempfile.mkdtemp(prefix="sceau-fmt-pki-"))
_PKI = devpki.generate(_ROOT, crl_url=_SERVICES.crl_url, ocsp_url=_SERVICES.ocsp_url)
_SERVICES.attach(_PKI)


def _import_token() -> bool:
    conf = os.environ.get("SOFTHSM2_CONF")
    if not conf:
        return False
    names = [n for n in _PKI.identities if _PKI[n].on_token and n.startswith("sign-")]
    softhsm.add_token(_PKI, Path(conf), label=FORMATS_TOKEN, names=names)
    return True


_TOKEN_READY: list[bool] = []


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # After tests/conftest.py has set SOFTHSM2_CONF, before any test loads the module.
    if not _TOKEN_READY:
        _TOKEN_READY.append(_import_token())


def pytest_unconfigure(config: pytest.Config) -> None:
    _SERVICES.stop()


@pytest.fixture(scope="session")
def services() -> Iterator[DevServices]:
    if _SERVICES._thread is None:
        _SERVICES.start()
    yield _SERVICES


@pytest.fixture(scope="session")
def fpki() -> DevPki:
    return _PKI


@pytest.fixture
def tsa_url(services: DevServices) -> str:
    return services.tsa_url


@pytest.fixture
def tsa(services: DevServices) -> TsaClient:
    return TsaClient(services.tsa_url, timeout=10, retries=0)


@pytest.fixture
def formats_p11(softhsm_module: str) -> Iterator[Pkcs11Backend]:
    backend = Pkcs11Backend([softhsm_module])
    yield backend
    backend.close()


def _pin(_request: object) -> str:
    return softhsm.USER_PIN


def _password(_request: object) -> str:
    return devpki.P12_PASSWORD


@pytest.fixture
def make_key(fpki: DevPki, formats_p11: Pkcs11Backend) -> Callable[[str, str], TokenKey]:
    """make_key(backend, identity) → TokenKey, backend "p12" or "p11"."""

    def make(backend: str, name: str) -> TokenKey:
        chain = _chain(fpki)
        token: Token
        if backend == "p12":
            token = Pkcs12Token(Path(fpki[name].p12), devpki.P12_PASSWORD)
            entry = token.certificates()[0]
            return TokenKey(token, entry, _password, chain=chain)
        if not any(_TOKEN_READY):
            pytest.skip("SoftHSM2 formats token not available")
        tokens = [t for t in formats_p11.tokens() if t.info.label == FORMATS_TOKEN]
        assert tokens, "formats token missing (was the SoftHSM2 module loaded before collection?)"
        token = tokens[0]
        entries = [e for e in token.certificates() if e.label == name]
        assert entries, name
        return TokenKey(token, entries[0], _pin, chain=chain)

    return make


def _chain(pki: DevPki) -> list:  # type: ignore[type-arg]
    from cryptography import x509

    return x509.load_pem_x509_certificates(Path(pki.chain).read_bytes())


BACKENDS = ["p12", "p11"]
KEYS = ["sign-rsa2048", "sign-ec256"]


def run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
