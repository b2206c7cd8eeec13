"""A 100 MB bid through the CLI in a subprocess: identical bytes, peak RSS of the process < 150 MB."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sceau.devkit.pki import DevPki

from .conftest import openssl_decrypt, openssl_encrypt

SIZE = 100 * 1024 * 1024
MAX_RSS_MB = 150


def _run_measured(cmd: list[str], env: dict[str, str]) -> tuple[int, float, bytes]:
    """Run `cmd`, return (exit code, peak RSS in MB of that process, stderr).

    Measured by /usr/bin/time: Linux carries ru_maxrss across exec, so a child forked straight from
    this (large) pytest process would report our own RSS; `time` is a small process to fork from.
    Without it, psutil samples the child's RSS.
    """
    if shutil.which("time") or Path("/usr/bin/time").exists():
        proc = subprocess.run(["/usr/bin/time", "-f", "MAXRSS_KB %M", *cmd], env=env, capture_output=True)
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        kb = int(lines[-1].split()[-1]) if lines and lines[-1].startswith("MAXRSS_KB") else 0
        assert kb > 0, proc.stderr
        return proc.returncode, kb / 1024, proc.stderr
    import psutil

    popen = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    child = psutil.Process(popen.pid)
    peak = 0
    while popen.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, child.memory_info().rss)
        time.sleep(0.01)
    assert popen.stderr is not None
    return popen.returncode, peak / (1 << 20), popen.stderr.read()


@pytest.fixture(scope="module")
def big_plaintext(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "plans.zip.bin"
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(SIZE >> 20):
            f.write(block[i:] + block[:i])
        f.write(b"tail")  # not block-aligned
    return path


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@pytest.mark.slow
def test_100mb_bid_decrypt_on_token_flat_memory(
    big_plaintext: Path, pki: DevPki, softhsm_module: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    bid = tmp_path / "pli.p7m"
    openssl_encrypt(
        big_plaintext, bid, [pki["enc-rsa2048"].cert, pki["enc-backup-rsa2048"].cert], "-aes-256-cbc", "-stream"
    )
    out = tmp_path / "clair.bin"
    code, rss, err = _run_measured(
        [
            sys.executable,
            "-m",
            "sceau.cli",
            "decrypt",
            "--pkcs11-module",
            softhsm_module,
            "--pin-env",
            "SCEAU_PIN",
            "--yes",
            "-o",
            str(out),
            str(bid),
        ],
        cli_env,
    )
    assert code == 0, err
    assert _digest(out) == _digest(big_plaintext)
    assert rss < MAX_RSS_MB, f"peak RSS {rss:.0f} MB"


@pytest.mark.slow
def test_100mb_bid_encrypt_flat_memory(
    big_plaintext: Path, pki: DevPki, cli_env: dict[str, str], tmp_path: Path
) -> None:
    bid = tmp_path / "pli.p7m"
    code, rss, err = _run_measured(
        [
            sys.executable,
            "-m",
            "sceau.cli",
            "encrypt",
            "--to",
            pki["enc-rsa2048"].cert,
            "--to",
            pki["enc-ec256"].cert,
            "--cipher",
            "aes-256-gcm",
            "-o",
            str(bid),
            str(big_plaintext),
        ],
        cli_env,
    )
    assert code == 0, err
    assert rss < MAX_RSS_MB, f"peak RSS {rss:.0f} MB"
    out = tmp_path / "clair.bin"
    assert openssl_decrypt(bid, out, pki["enc-ec256"].cert, pki["enc-ec256"].key_pem).returncode == 0
    assert _digest(out) == _digest(big_plaintext)
