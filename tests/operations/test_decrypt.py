"""`decrypt` handler on the SoftHSM2 token: upload in chunks, consent, download, unwrap-key mode, refusals."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sceau.config import DEFAULT_LIMITS, Config
from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki
from sceau.errors import BadRequest, NotARecipient, UserCancelled
from sceau.operations.context import Connection, OperationContext
from sceau.operations.decrypt import OPERATION as DECRYPT
from sceau.operations.transfer import OPERATIONS
from sceau.protocol.codes import OperationKind
from sceau.protocol.session import Session
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.registry import TokenManager
from sceau.ui.headless import HeadlessUI

UPLOAD, FETCH = OPERATIONS
ORIGIN = "https://marches.example.fr"


@pytest.fixture
def manager(p11_backend: Pkcs11Backend) -> Iterator[TokenManager]:
    yield TokenManager([p11_backend])


@pytest.fixture(scope="module")
def bid(pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(plaintext, bid) — 1.5 MB encrypted by openssl to the main and backup keys."""
    d = tmp_path_factory.mktemp("bid")
    plain = d / "offre.pdf"
    plain.write_bytes(hashlib.sha256(b"seed").digest() * 49_000)
    out = d / "pli.p7m"
    subprocess.run(
        [
            "openssl",
            "cms",
            "-encrypt",
            "-binary",
            "-aes-256-cbc",
            "-in",
            str(plain),
            "-outform",
            "DER",
            "-out",
            str(out),
            pki["enc-rsa2048"].cert,
            pki["enc-backup-rsa2048"].cert,
        ],
        check=True,
    )
    return plain.read_bytes(), out.read_bytes()


def _ctx(manager: TokenManager, ui: HeadlessUI, conn: Connection) -> OperationContext:
    return OperationContext(
        origin=ORIGIN, ui=ui, tokens=manager, config=Config(), executor=TokenExecutor(), connection=conn
    )


async def _upload(ctx: OperationContext, data: bytes, chunk: int = 600_000) -> str:
    tid: str | None = None
    parts = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for i, part in enumerate(parts):
        args: dict[str, Any] = {"index": i, "data": base64.b64encode(part).decode(), "final": i == len(parts) - 1}
        if tid:
            args["transfer"] = tid
        tid = (await UPLOAD.run(ctx, UPLOAD.parse(args)))["transfer"]
    assert tid is not None
    return tid


async def _download(ctx: OperationContext, desc: dict[str, Any]) -> bytes:
    out = b""
    for i in range(desc["chunks"]):
        out += base64.b64decode((await FETCH.run(ctx, FETCH.parse({"transfer": desc["transfer"], "index": i})))["data"])
    return out


def test_decrypt_through_transfers(manager: TokenManager, bid: tuple[bytes, bytes], pki: DevPki) -> None:
    plain, data = bid
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True)
    conn = Connection()
    ctx = _ctx(manager, ui, conn)

    async def go() -> tuple[dict[str, Any], bytes]:
        tid = await _upload(ctx, data)
        result = await DECRYPT.run(ctx, DECRYPT.parse({"document": {"transfer": tid}, "name": "pli.p7m"}))
        return result, await _download(ctx, result["plaintext"])

    result, got = asyncio.run(go())
    assert got == plain
    assert result["opened"] and result["algorithm"] == "aes-256-cbc"
    assert result["certificate"]["serialNumber"] in {
        format(pki[n].serial, "x") for n in ("enc-rsa2048", "enc-backup-rsa2048")
    }
    consent = ui.consents[-1]
    assert consent.origin == ORIGIN and consent.operation is OperationKind.DECRYPT
    assert consent.documents[0].name == "pli.p7m" and consent.documents[0].size == len(data)
    assert consent.documents[0].sha256_hex == hashlib.sha256(data).hexdigest()
    assert consent.certificate is not None and consent.certificate.handle == result["certificate"]["id"]
    store = conn.transfers(DEFAULT_LIMITS)
    assert list(store.root.iterdir()) == []  # upload released, download fetched → nothing left


def test_unwrap_key_mode(manager: TokenManager, bid: tuple[bytes, bytes]) -> None:
    plain, data = bid
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True)
    ctx = _ctx(manager, ui, Connection())

    async def go() -> dict[str, Any]:
        args = {"document": {"transfer": await _upload(ctx, data)}, "mode": "unwrap-key", "name": "pli.p7m"}
        DECRYPT.parse(args)
        assert DECRYPT.permission(args) is OperationKind.UNWRAP_KEY
        return await DECRYPT.run(ctx, DECRYPT.parse(args))

    result = asyncio.run(go())
    consent = ui.consents[-1]
    assert consent.operation is OperationKind.UNWRAP_KEY and "without your token" in consent.detail
    assert "plaintext" not in result
    # The platform's side: decrypt with the returned key, independently of our decryptor.
    key, iv = base64.b64decode(result["key"]), base64.b64decode(result["iv"])
    ct = cms.ContentInfo.load(data)["content"]["encrypted_content_info"]["encrypted_content"].native
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    assert unpadder.update(dec.update(ct) + dec.finalize()) + unpadder.finalize() == plain


def test_refused_consent_leaves_nothing(manager: TokenManager, bid: tuple[bytes, bytes]) -> None:
    _plain, data = bid
    conn = Connection()
    ctx = _ctx(manager, HeadlessUI(pin=softhsm.USER_PIN, approve=False), conn)

    async def go() -> None:
        tid = await _upload(ctx, data)
        with pytest.raises(UserCancelled):
            await DECRYPT.run(ctx, DECRYPT.parse({"document": {"transfer": tid}}))

    asyncio.run(go())
    assert list(conn.transfers(DEFAULT_LIMITS).root.iterdir()) == []


def test_not_a_recipient(manager: TokenManager, pki: DevPki, tmp_path: Path) -> None:
    plain = tmp_path / "x"
    plain.write_bytes(b"secret")
    out = tmp_path / "x.p7m"
    subprocess.run(
        [
            "openssl",
            "cms",
            "-encrypt",
            "-binary",
            "-in",
            str(plain),
            "-outform",
            "DER",
            "-out",
            str(out),
            pki["auth-rsa2048"].cert,
        ],
        check=True,
    )
    ctx = _ctx(manager, HeadlessUI(pin=softhsm.USER_PIN, approve=True), Connection())
    args = {"document": {"data": base64.b64encode(out.read_bytes()).decode()}}
    with pytest.raises(NotARecipient) as info:
        asyncio.run(DECRYPT.run(ctx, DECRYPT.parse(args)))
    assert info.value.code.value == "NOT_A_RECIPIENT"


def test_bad_args() -> None:
    with pytest.raises(BadRequest):
        DECRYPT.parse({"document": "pli.p7m"})
    with pytest.raises(BadRequest):
        DECRYPT.parse({"document": {"data": "AA=="}, "mode": "steal"})


async def test_wire_roundtrip_through_agent(manager: TokenManager, pki: DevPki, tmp_path: Path) -> None:
    """encrypt then decrypt as a page does: upload-chunk → encrypt → fetch-chunk → upload → decrypt → fetch."""
    from sceau.app import Agent

    agent = Agent(Config(), manager, HeadlessUI(pin=softhsm.USER_PIN, approve=True))
    session = Session()
    n = 0

    async def call(cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        nonlocal n
        n += 1
        msg = {"v": 1, "id": f"r{n}", "cmd": cmd, "args": args, "origin": ORIGIN}
        return await agent.handle(msg, session=session)

    async def upload(data: bytes) -> str:
        tid = None
        for i in range(0, len(data), 700_000):
            args: dict[str, Any] = {
                "index": i // 700_000,
                "data": base64.b64encode(data[i : i + 700_000]).decode(),
                "final": i + 700_000 >= len(data),
            }
            if tid:
                args["transfer"] = tid
            resp = await call("upload-chunk", args)
            assert resp["ok"], resp
            tid = resp["result"]["transfer"]
        assert tid is not None
        return tid

    async def fetch(desc: dict[str, Any]) -> bytes:
        out = b""
        for i in range(desc["chunks"]):
            resp = await call("fetch-chunk", {"transfer": desc["transfer"], "index": i})
            assert resp["ok"], resp
            out += base64.b64decode(resp["result"]["data"])
        return out

    plain = bytes(range(256)) * 8000  # 2 MB: several chunks both ways
    certs = [Path(pki[n].cert).read_text() for n in ("enc-ec256", "enc-backup-rsa2048")]
    resp = await call(
        "encrypt",
        {
            "document": {"transfer": await upload(plain)},
            "recipients": certs,
            "cipher": "aes-256-gcm",
            "name": "offre.pdf",
        },
    )
    assert resp["ok"], resp
    bid = await fetch(resp["result"]["ciphertext"])
    resp = await call("decrypt", {"document": {"transfer": await upload(bid)}, "name": "offre.pdf.p7m"})
    assert resp["ok"], resp
    assert await fetch(resp["result"]["plaintext"]) == plain
    # A bid for someone else: the page gets the stable code, not a traceback.
    other = tmp_path / "x.p7m"
    src = tmp_path / "x"
    src.write_bytes(b"x")
    subprocess.run(
        [
            "openssl",
            "cms",
            "-encrypt",
            "-binary",
            "-in",
            str(src),
            "-outform",
            "DER",
            "-out",
            str(other),
            pki["auth-rsa2048"].cert,
        ],
        check=True,
    )
    resp = await call("decrypt", {"document": {"data": base64.b64encode(other.read_bytes()).decode()}})
    assert not resp["ok"] and resp["error"]["code"] == "NOT_A_RECIPIENT"
    resp = await call("fetch-chunk", {"transfer": "nope", "index": 0})
    assert not resp["ok"] and resp["error"]["code"] == "BAD_REQUEST"
    root = agent.connection(session, ORIGIN).transfers(DEFAULT_LIMITS).root
    agent.connection_closed(session)
    assert not root.exists()


async def test_several_recipient_keys_on_the_token_ask_the_user(pki, softhsm_module, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Main and backup key both on the token, no certificate named: the user picks (not the file's order)."""
    import subprocess

    from sceau.config import Config
    from sceau.crypto import cms_decrypt
    from sceau.operations.context import OperationContext
    from sceau.operations.decrypt import _find_match
    from sceau.tokens.executor import TokenExecutor
    from sceau.tokens.pkcs11 import Pkcs11Backend
    from sceau.tokens.registry import TokenManager
    from sceau.ui.headless import HeadlessUI

    plain = tmp_path / "offre.txt"
    plain.write_bytes(b"offre")
    out = tmp_path / "pli.p7m"
    subprocess.run(
        [
            "openssl",
            "cms",
            "-encrypt",
            "-binary",
            "-aes-256-cbc",
            "-outform",
            "DER",
            "-in",
            str(plain),
            "-out",
            str(out),
            pki["enc-rsa3072"].cert,
            pki["enc-backup-rsa2048"].cert,
        ],
        check=True,
    )
    asked: list[list[str]] = []

    def chooser(choice):  # type: ignore[no-untyped-def]
        asked.append(sorted(e.label for e in choice.candidates))
        return next(e for e in choice.candidates if e.label == "enc-rsa3072")

    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True, chooser=chooser)
    tokens = TokenManager([Pkcs11Backend([softhsm_module])], token_label=softhsm.TOKEN_LABEL)
    ctx = OperationContext("https://marches.exemple.fr", ui, tokens, Config(), TokenExecutor())
    with out.open("rb") as fh:
        env = cms_decrypt.read_envelope(fh)
    match = await _find_match(ctx, env, None)
    assert asked == [["enc-backup-rsa2048", "enc-rsa3072"]]
    assert match.entry.label == "enc-rsa3072"
