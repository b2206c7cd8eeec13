"""A private pcscd with a vpcd reader, and vicc (vsmartcard) as the virtual card: shared by the
PC/SC monitor tests and the browser test of card notifications (imported by path)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VICC_PATH = Path("/usr/lib/python3/site-packages/virtualsmartcard")  # Debian bookworm's layout
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_pcscd(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """pcscd in the foreground with one vpcd reader on a free local port (skip when impossible)."""
    pytest.importorskip("smartcard.scard")
    if not shutil.which("pcscd") or not VPCD_DRIVER.exists():
        pytest.skip("pcscd / vsmartcard-vpcd not installed (apt-get install pcscd vsmartcard-vpcd)")
    if subprocess.run(["pgrep", "-x", "pcscd"], capture_output=True).returncode == 0:
        pytest.skip("a pcscd is already running (pcscd 1.9 cannot listen on a private socket)")
    port = free_port()
    conf = tmp_path / "reader.conf.d"
    conf.mkdir()
    (conf / "vpcd").write_text(
        f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:{port:#x}\nLIBPATH {VPCD_DRIVER}\nCHANNELID {port:#x}\n'
    )
    proc = subprocess.Popen(
        ["pcscd", "--foreground", "--config", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while not PCSCD_SOCKET.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# vicc with another answer-to-reset: its ISO 7816 card, whose ATR is set after it is built (vicc has no
# option for it; its other card types are Python 2 leftovers or need libeac). Arguments: port, ATR hex.
_VICC_WITH_ATR = """
import logging, sys
from virtualsmartcard.VirtualSmartcard import VirtualICC
card = VirtualICC(None, "iso7816", "localhost", int(sys.argv[1]), logginglevel=logging.CRITICAL)
card.os.atr = bytes.fromhex(sys.argv[2])
card.run()
"""
OTHER_ATR = "3b9613810180318065b08465"  # Iso7816OS.makeATR(T=1, TA1=0x13, histChars=80 31 80 65 b0 84)


def start_vicc(port: int, atr: str | None = None) -> subprocess.Popen[bytes]:
    """vicc (vsmartcard-vpicc) connected to our vpcd: the card is 'inserted' while it runs; with `atr`
    (hex), a card answering that ATR (a card of another model, mapped to another module).

    Debian bookworm installs the module one folder too deep and vicc needs `Crypto`
    (pycryptodome, a dev dependency): run it with our interpreter and the right PYTHONPATH.
    """
    if not shutil.which("vicc") or not VICC_PATH.exists():
        pytest.skip("vsmartcard-vpicc not installed")
    pytest.importorskip("Crypto", reason="vicc needs pycryptodome")
    env = dict(os.environ, PYTHONPATH=str(VICC_PATH))
    if atr is not None:
        cmd = [sys.executable, "-c", _VICC_WITH_ATR, str(port), atr]
    else:
        cmd = [sys.executable, "/usr/bin/vicc", "--type", "iso7816", "--port", str(port)]
    return subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
