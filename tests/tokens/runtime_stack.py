"""Second PKCS#11 module instances for the run-time token tests and the benchmark.

SoftHSM2 reads `SOFTHSM2_CONF` once per process, and a library file is loaded once per process. So a
second, independent token set is a *copy* of the SoftHSM2 library (a distinct instance) behind a copy of
the pinlimit pass-through (tests/tokens/pinlimit), whose settings file points the copy at another token
directory (PINLIMIT_SOFTHSM2_CONF) and adds the mode under test (PIN pad, hang, card presence).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sceau.devkit import softhsm

CARD_LABEL = "Carte B"
CARD_PIN = "4321"
CARD_KEY_LABEL = "sign-b"
VICC_ATR = "3b951381018073ff01000b"  # vicc --type iso7816 (vsmartcard), as read through pcscd


@dataclass(frozen=True)
class CardToken:
    conf: Path  # softhsm2.conf of the token directory
    cert_der: bytes  # the signing certificate on it (generated here, not in the PKI: distinct from token A)


def make_card_token(folder: Path, softhsm_module: str, pin: str = CARD_PIN, label: str = CARD_LABEL) -> CardToken:
    """A SoftHSM2 token directory of its own with one EC signing key and a self-signed certificate,
    made with the real tools (openssl, softhsm2-util --import, pkcs11-tool --write-object)."""
    tokens = folder / "tokens"
    tokens.mkdir(parents=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))

    def run(*cmd: str) -> None:
        subprocess.run(cmd, env=env, check=True, capture_output=True)

    key, pem, der = folder / "key.pem", folder / "cert.pem", folder / "cert.der"
    run("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", softhsm.SO_PIN, "--pin", pin)
    run(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key), "-out", str(pem), "-days", "30",
        "-subj", "/CN=Carte B Signataire/O=Fournisseur B", "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,nonRepudiation",
    )  # fmt: skip
    run("openssl", "x509", "-in", str(pem), "-outform", "DER", "-out", str(der))
    run(
        "softhsm2-util", "--import", str(key), "--token", label, "--label", CARD_KEY_LABEL,
        "--id", "0b0b", "--pin", pin,
    )  # fmt: skip
    run(
        "pkcs11-tool", "--module", softhsm_module, "--token-label", label, "--login", "--pin", pin,
        "--write-object", str(der), "--type", "cert", "--id", "0b0b", "--label", CARD_KEY_LABEL,
    )  # fmt: skip
    key.unlink()  # the private key lives on the token only
    return CardToken(conf, der.read_bytes())


def module_instance(folder: Path, name: str, pinlimit: Path, softhsm_module: str, conf: Path, **settings: str) -> str:
    """A pinlimit copy in front of a SoftHSM2 copy reading `conf`; `settings` are more PINLIMIT_* keys."""
    folder.mkdir(parents=True, exist_ok=True)
    hsm = folder / f"{name}-softhsm2.so"
    shutil.copyfile(softhsm_module, hsm)
    front = folder / f"{name}.so"
    shutil.copyfile(pinlimit, front)
    lines = {"PINLIMIT_MODULE": str(hsm), "PINLIMIT_SOFTHSM2_CONF": str(conf), **settings}
    (folder / f"{name}.so.env").write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    return str(front)
