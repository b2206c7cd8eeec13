"""Fixtures for CMS tests: token managers for both backends, openssl helpers, the decryption engine."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sceau.config import Config
from sceau.devkit import pki as devpki
from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki
from sceau.operations.context import OperationContext
from sceau.operations.decrypt import DecryptJob, decrypt_file
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.pkcs12 import Pkcs12Backend
from sceau.tokens.registry import TokenManager
from sceau.ui.headless import HeadlessUI

ENC_NAMES = ("enc-rsa2048", "enc-rsa3072", "enc-ec256", "enc-backup-rsa2048")


def pkcs12_manager(pki: DevPki, names: Sequence[str] = ENC_NAMES) -> TokenManager:
    files = [Path(pki[n].p12) for n in names]
    return TokenManager([Pkcs12Backend(files, {f: devpki.P12_PASSWORD for f in files})])


@pytest.fixture(params=["pkcs12", "pkcs11"])
def manager(request: pytest.FixtureRequest, pki: DevPki, softhsm_module: str) -> Iterator[TokenManager]:
    """Every encryption key of the dev PKI, as PKCS#12 files or on the SoftHSM2 token."""
    m = pkcs12_manager(pki) if request.param == "pkcs12" else TokenManager([Pkcs11Backend([softhsm_module])])
    yield m
    m.close()


def openssl_encrypt(src: Path, dst: Path, certs: Sequence[str], *args: str) -> None:
    """`-keyopt` pairs in `args` apply to every recipient (openssl binds them to the preceding -recip)."""
    keyopts: list[str] = []
    rest: list[str] = []
    it = iter(args)
    for arg in it:
        if arg == "-keyopt":
            keyopts += [arg, next(it)]
        else:
            rest.append(arg)
    cmd = ["openssl", "cms", "-encrypt", "-binary", "-in", str(src), "-outform", "DER", "-out", str(dst), *rest]
    for cert in certs:
        cmd += ["-recip", cert, *keyopts]
    subprocess.run(cmd, check=True, capture_output=True)


def openssl_decrypt(src: Path, dst: Path, cert: str, key: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            "openssl",
            "cms",
            "-decrypt",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(src),
            "-recip",
            cert,
            "-inkey",
            key,
            "-out",
            str(dst),
        ],
        capture_output=True,
    )


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_decrypt(
    manager: TokenManager, src: Path, dst: Path | None, *, ui: HeadlessUI | None = None, **job: Any
) -> dict[str, Any]:
    """The same engine as the agent and the CLI, with a headless UI."""
    ui = ui or HeadlessUI(pin=softhsm.USER_PIN, approve=True)
    executor = TokenExecutor()

    async def go() -> dict[str, Any]:
        ctx = OperationContext(
            origin="https://marches.example.fr", ui=ui, tokens=manager, config=Config(), executor=executor
        )
        return await decrypt_file(
            ctx, DecryptJob(src, src.name, src.stat().st_size, sha256_file(src), output=dst, **job)
        )

    try:
        return asyncio.run(go())
    finally:
        executor.shutdown()


@pytest.fixture
def decrypt() -> Callable[..., dict[str, Any]]:
    return run_decrypt


@pytest.fixture(scope="session")
def plaintext(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300 KB bid with a non-block-aligned size."""
    path = tmp_path_factory.mktemp("plain") / "offre.pdf"
    path.write_bytes(bytes(range(256)) * 1171 + b"fin")
    return path
