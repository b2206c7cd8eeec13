"""A card pulled out in the middle of a batch: TOKEN_REMOVED for what was not signed, nothing half-written.

The pinlimit shim (tests/tokens/pinlimit) sits in front of the real SoftHSM2 module and answers
CKR_DEVICE_REMOVED after N signatures, as a real module does when the card leaves the reader.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki


def test_card_pulled_mid_batch(
    token_copy: Path,
    pinlimit_module: Path,
    softhsm_module: str,
    cli_env: dict[str, str],
    pki: DevPki,
    tmp_path: Path,
) -> None:
    docs = []
    for name in ("a.txt", "b.txt", "c.txt"):
        path = tmp_path / name
        path.write_text(f"pièce {name}\n", encoding="utf-8")
        docs.append(str(path))
    out = tmp_path / "out"
    env = {
        **cli_env,
        "SOFTHSM2_CONF": str(token_copy),
        "PINLIMIT_MODULE": softhsm_module,
        "PINLIMIT_STATE": str(tmp_path / "pin.state"),
        "PINLIMIT_REMOVE_AFTER": "1",
    }
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sceau.cli",
            "sign",
            "--format",
            "cades",
            "--pkcs11-module",
            str(pinlimit_module),
            "--token-label",
            softhsm.TOKEN_LABEL,
            "--pin-env",
            "SCEAU_PIN",
            "--key-label",
            "sign-rsa2048",
            "--yes",
            "-o",
            str(out),
            *docs,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 3, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert r.stderr.count("TOKEN_REMOVED") == 2
    # The document signed before the card left is complete and valid; nothing else was written.
    assert sorted(p.name for p in out.iterdir()) == ["a.txt - Signature 1.p7s"]
    ca = tmp_path / "ca.pem"
    ca.write_bytes(Path(pki.root_ca).read_bytes() + Path(pki.intermediate_ca).read_bytes())
    ok = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(out / "a.txt - Signature 1.p7s"),
            "-content",
            docs[0],
            "-CAfile",
            str(ca),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
