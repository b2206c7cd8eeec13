"""`encrypt` handler: a bid encrypted to the buyer's main and backup keys, opened by openssl with each key."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from sceau.config import DEFAULT_LIMITS, Config
from sceau.devkit.pki import DevPki
from sceau.errors import BadRequest, InvalidInput
from sceau.operations.context import Connection, OperationContext
from sceau.operations.encrypt import OPERATION as ENCRYPT
from sceau.operations.transfer import OPERATIONS
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.registry import TokenManager
from sceau.ui.headless import HeadlessUI

FETCH = OPERATIONS[1]


def _ctx(conn: Connection) -> OperationContext:
    return OperationContext(
        origin="https://depot.example.fr",
        ui=HeadlessUI(),
        tokens=TokenManager([]),
        config=Config(),
        executor=TokenExecutor(),
        connection=conn,
    )


@pytest.mark.parametrize("cipher", ["aes-256-cbc", "aes-256-gcm"])
def test_encrypt_for_main_and_backup_keys(cipher: str, pki: DevPki, tmp_path: Path) -> None:
    plain = b"Offre de Batiments Durand SARL\n" * 20_000
    recipients = [
        Path(pki["enc-rsa2048"].cert).read_text(),  # PEM
        base64.b64encode(pki.cert("enc-backup-rsa2048").public_bytes(Encoding.DER)).decode(),  # base64 DER
        Path(pki["enc-ec256"].cert).read_text(),
    ]
    conn = Connection()
    ctx = _ctx(conn)
    args = {
        "document": {"data": base64.b64encode(plain[:900_000]).decode()},
        "name": "offre.pdf",
        "recipients": recipients,
        "cipher": cipher,
        "rsaPadding": "oaep-sha256",
    }

    async def go() -> tuple[dict[str, Any], bytes]:
        result = await ENCRYPT.run(ctx, ENCRYPT.parse(args))
        desc = result["ciphertext"]
        data = b""
        for i in range(desc["chunks"]):
            res = await FETCH.run(ctx, FETCH.parse({"transfer": desc["transfer"], "index": i}))
            data += base64.b64decode(res["data"])
        return result, data

    result, data = asyncio.run(go())
    assert result["ciphertext"]["name"] == "offre.pdf.p7m"
    assert [r["commonName"] for r in result["recipients"]] == ["Marie Durand", "Clé de secours", "Élodie Moreau"]
    bid = tmp_path / "offre.pdf.p7m"
    bid.write_bytes(data)
    for name in ("enc-rsa2048", "enc-backup-rsa2048", "enc-ec256"):
        out = tmp_path / f"{name}.pdf"
        proc = subprocess.run(
            [
                "openssl",
                "cms",
                "-decrypt",
                "-binary",
                "-inform",
                "DER",
                "-in",
                str(bid),
                "-recip",
                pki[name].cert,
                "-inkey",
                pki[name].key_pem,
                "-out",
                str(out),
            ],
            capture_output=True,
        )
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes() == plain[:900_000]
    assert list(conn.transfers(DEFAULT_LIMITS).root.iterdir()) == []


@pytest.mark.parametrize("name", ["sign-rsa2048", "auth-expired", "auth-ec256"])
def test_unfit_recipient_refused(name: str, pki: DevPki) -> None:
    args = {"document": {"data": "AAAA"}, "recipients": [Path(pki[name].cert).read_text()]}
    with pytest.raises(InvalidInput):
        asyncio.run(ENCRYPT.run(_ctx(Connection()), ENCRYPT.parse(args)))


def test_bad_args(pki: DevPki) -> None:
    with pytest.raises(BadRequest):
        ENCRYPT.parse({"document": {"data": "AAAA"}, "recipients": []})
    with pytest.raises(BadRequest):
        ENCRYPT.parse(
            {"document": {"data": "AAAA"}, "recipients": [Path(pki["enc-ec256"].cert).read_text()], "cipher": "rc4"}
        )
    with pytest.raises(InvalidInput):
        ENCRYPT.parse({"document": {"data": "AAAA"}, "recipients": ["bm90IGEgY2VydA=="]})
