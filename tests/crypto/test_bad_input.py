"""Hostile and broken bids: clear codes, one error for every padding/MAC failure, no plaintext left behind."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms

from sceau.crypto.cms_encrypt import EncryptOptions, encrypt_stream
from sceau.devkit.pki import DevPki
from sceau.errors import InvalidInput, NotARecipient, SceauError, TooLarge, Unsupported
from sceau.protocol.codes import ErrorCode
from sceau.tokens.registry import TokenManager

from .conftest import openssl_encrypt, pkcs12_manager, run_decrypt

DECRYPTION_FAILED = "Decryption failed: the file is damaged or was not encrypted for this key."


@pytest.fixture
def p12(pki: DevPki) -> TokenManager:
    return pkcs12_manager(pki)


def _encrypt(pki: DevPki, plaintext: Path, dst: Path, cipher: str = "aes-256-cbc", size: bool = True) -> bytes:
    with open(plaintext, "rb") as src, open(dst, "wb") as out:
        encrypt_stream(
            src,
            out,
            [pki.cert("enc-rsa2048")],
            size=plaintext.stat().st_size if size else None,
            options=EncryptOptions(cipher),
        )
    return dst.read_bytes()


def _expect(
    decrypt: Callable[..., dict[str, Any]],
    manager: TokenManager,
    data: bytes,
    tmp_path: Path,
    error: type[SceauError] = InvalidInput,
) -> SceauError:
    src = tmp_path / "bad.p7m"
    src.write_bytes(data)
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    with pytest.raises(error) as info:
        decrypt(manager, src, out_dir / "clair.bin")
    assert list(out_dir.iterdir()) == [], "no partial plaintext may remain"
    return info.value


def _ct_offset(data: bytes, plain_len: int) -> int:
    """Offset of the ciphertext in a DER EnvelopedData we produced (content is the last primitive [0])."""
    ct_len = (plain_len // 16 + 1) * 16
    return len(data) - ct_len


@pytest.mark.parametrize("cut", [10, 400, 5000, -17, -1])
def test_truncated(
    cut: int, pki: DevPki, p12: TokenManager, plaintext: Path, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]
) -> None:
    data = _encrypt(pki, plaintext, tmp_path / "a.p7m")
    _expect(decrypt, p12, data[:cut], tmp_path)


@pytest.mark.parametrize("size", [True, False], ids=["der", "ber"])
@pytest.mark.parametrize("cipher", ["aes-256-cbc", "aes-256-gcm"])
@pytest.mark.parametrize("where", ["ciphertext-start", "ciphertext-end", "last-byte"])
def test_flipped_bytes(
    where: str,
    cipher: str,
    size: bool,
    pki: DevPki,
    p12: TokenManager,
    plaintext: Path,
    tmp_path: Path,
    decrypt: Callable[..., dict[str, Any]],
) -> None:
    """GCM: any flipped bit is refused. CBC has no integrity (RFC 5652): only padding damage is detectable,
    elsewhere the plaintext comes out garbled — which is why signed bids and GCM matter."""
    data = bytearray(_encrypt(pki, plaintext, tmp_path / "a.p7m", cipher, size))
    flip = 0x01
    if where == "last-byte" and cipher == "aes-256-gcm":
        pos = len(data) - (1 if size else 7)  # a tag byte (BER: before the three closing EOCs)
    elif where == "last-byte":
        # CBC: the byte of the previous block that XORs into the last padding byte. Flipping its high
        # bit makes the padding invalid every time (flipping the last byte itself would leave a
        # valid-looking padding 1 time in 256). BER: the final block is its own 2+16-byte chunk.
        pos = len(data) - (17 if size else 29)
        flip = 0x80
    elif where == "ciphertext-start":
        pos = len(data) - plaintext.stat().st_size // 2
    else:
        pos = len(data) - (40 if size else 60)
    data[pos] ^= flip
    if cipher == "aes-256-gcm" or where == "last-byte":
        err = _expect(decrypt, p12, bytes(data), tmp_path)
        assert err.message == DECRYPTION_FAILED
    else:
        src = tmp_path / "flipped.p7m"
        src.write_bytes(bytes(data))
        decrypt(p12, src, tmp_path / "garbled")
        assert (tmp_path / "garbled").read_bytes() != plaintext.read_bytes()


def test_wrong_padding_same_error_as_wrong_key(
    pki: DevPki, p12: TokenManager, plaintext: Path, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]
) -> None:
    data = bytearray(_encrypt(pki, plaintext, tmp_path / "a.p7m"))
    data[-17] ^= 0x80  # the second-to-last block: garbles the padding of the last one
    pad_err = _expect(decrypt, p12, bytes(data), tmp_path)
    # Encrypted key damaged: RSA padding fails on the token.
    good = _encrypt(pki, plaintext, tmp_path / "b.p7m")
    ci = cms.ContentInfo.load(good)
    ek = bytes(ci["content"]["recipient_infos"][0].chosen["encrypted_key"].native)
    pos = good.index(ek) + 100
    broken = bytearray(good)
    broken[pos] ^= 0x01
    key_err = _expect(decrypt, p12, bytes(broken), tmp_path)
    assert pad_err.message == key_err.message == DECRYPTION_FAILED


def test_gcm_tag_checked_before_anything_is_kept(
    pki: DevPki, p12: TokenManager, plaintext: Path, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]
) -> None:
    data = bytearray(_encrypt(pki, plaintext, tmp_path / "a.p7m", "aes-256-gcm"))
    data[-1] ^= 0xFF  # the tag
    err = _expect(decrypt, p12, bytes(data), tmp_path)
    assert err.message == DECRYPTION_FAILED


def test_flipped_header_byte(
    pki: DevPki, p12: TokenManager, plaintext: Path, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]
) -> None:
    data = bytearray(_encrypt(pki, plaintext, tmp_path / "a.p7m"))
    for pos in (0, 1, 6, 20):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        with pytest.raises((InvalidInput, Unsupported, NotARecipient)):
            src = tmp_path / "x.p7m"
            src.write_bytes(bytes(bad))
            decrypt(p12, src, tmp_path / f"x{pos}.out")
        assert not (tmp_path / f"x{pos}.out").exists()


def test_unknown_content_algorithm(
    pki: DevPki, p12: TokenManager, plaintext: Path, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]
) -> None:
    data = _encrypt(pki, plaintext, tmp_path / "a.p7m")
    aes256cbc = bytes.fromhex("0609608648016503040102a")[:-1] if False else bytes.fromhex("060960864801650304012a")
    assert aes256cbc in data
    data = data.replace(aes256cbc, bytes.fromhex("060960864801650304012f"))  # aes256-ccm
    _expect(decrypt, p12, data, tmp_path, Unsupported)


def test_unknown_key_transport(
    pki: DevPki, p12: TokenManager, plaintext: Path, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]
) -> None:
    data = _encrypt(pki, plaintext, tmp_path / "a.p7m")
    rsa = bytes.fromhex("06092a864886f70d010101")
    data = data.replace(rsa, bytes.fromhex("06092a864886f70d01010c"), 1)
    _expect(decrypt, p12, data, tmp_path, Unsupported)


def test_absurd_length(p12: TokenManager, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]) -> None:
    _expect(decrypt, p12, b"\x30\x88\x7f\xff\xff\xff\xff\xff\xff\xff" + b"\x06\x09" + b"\x00" * 40, tmp_path)


def test_nested_indefinite_content(
    pki: DevPki, p12: TokenManager, tmp_path: Path, decrypt: Callable[..., dict[str, Any]], plaintext: Path
) -> None:
    """Ciphertext split in nested constructed OCTET STRINGs (legal BER) decrypts; unterminated ones do not."""
    data = _encrypt(pki, plaintext, tmp_path / "a.p7m", size=False)
    start = data.index(b"\xa0\x80\x04")  # encryptedContent [0] constructed, indefinite
    body_end = len(data) - 10  # before "00 00" (content) + ECI/env/[0]/CI EOCs
    chunks = data[start + 2 : body_end]
    nested = data[: start + 2] + b"\x24\x80\x24\x80" + chunks + b"\x00\x00\x00\x00" + data[body_end:]
    src = tmp_path / "nested.p7m"
    src.write_bytes(nested)
    decrypt(p12, src, tmp_path / "ok.bin")
    assert (tmp_path / "ok.bin").read_bytes() == plaintext.read_bytes()
    _expect(decrypt, p12, data[: start + 2] + b"\x24\x80" * 200 + chunks, tmp_path)


def test_empty_content(pki: DevPki, p12: TokenManager, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    data = _encrypt(pki, empty, tmp_path / "a.p7m")
    src = tmp_path / "e.p7m"
    src.write_bytes(data)
    report = decrypt(p12, src, tmp_path / "e.out")  # an empty plaintext is legal
    assert report["size"] == 0 and (tmp_path / "e.out").read_bytes() == b""
    # No ciphertext at all (a zero-length [0]): one decryption error.
    cut = data[: -16 - 2] + b"\x80\x00"
    fixed = bytearray(cut)
    _expect(decrypt, p12, bytes(fixed), tmp_path)
    _expect(decrypt, p12, b"", tmp_path)


def test_not_a_recipient(
    pki: DevPki, p12: TokenManager, plaintext: Path, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]
) -> None:
    bid = tmp_path / "a.p7m"
    openssl_encrypt(plaintext, bid, [pki["sign-rsa2048"].cert])  # not one of our encryption keys
    err = _expect(decrypt, p12, bid.read_bytes(), tmp_path, NotARecipient)
    assert err.code is ErrorCode.NOT_A_RECIPIENT


def test_ten_thousand_recipients(
    pki: DevPki, p12: TokenManager, plaintext: Path, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]
) -> None:
    data = _encrypt(pki, plaintext, tmp_path / "a.p7m", size=False)
    ci = cms.ContentInfo.load(data)
    ri = ci["content"]["recipient_infos"][0].dump()
    ris = b"".join([ri] * 10_000)
    head = data.index(b"\x31")  # the RecipientInfos SET
    old_len = len(cms.ContentInfo.load(data)["content"]["recipient_infos"].dump())
    hdr = b"\x31\x84" + len(ris).to_bytes(4, "big")
    crafted = data[:head] + hdr + ris + data[head + old_len :]
    started = time.monotonic()
    _expect(decrypt, p12, crafted, tmp_path, TooLarge)
    assert time.monotonic() - started < 10


def test_cancelled_decryption_leaves_nothing(pki: DevPki, p12: TokenManager, tmp_path: Path) -> None:
    """A request cancelled mid-stream (timeout, page gone) stops the worker and removes the partial plaintext."""
    import asyncio
    import contextlib
    import hashlib

    from sceau.config import Config
    from sceau.devkit import softhsm
    from sceau.operations.context import OperationContext
    from sceau.operations.decrypt import DecryptJob, decrypt_file
    from sceau.tokens.executor import TokenExecutor
    from sceau.ui.headless import HeadlessUI

    plain = tmp_path / "big.bin"
    plain.write_bytes(b"\x5a" * (40 << 20))
    bid = tmp_path / "big.p7m"
    _encrypt(pki, plain, bid)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    executor = TokenExecutor()

    async def go() -> None:
        task: asyncio.Task[dict[str, Any]] | None = None
        progress_seen = asyncio.Event()

        async def emit(event: dict[str, Any]) -> None:
            progress_seen.set()

        ctx = OperationContext(
            origin="https://a.fr",
            ui=HeadlessUI(pin=softhsm.USER_PIN, approve=True),
            tokens=p12,
            config=Config(),
            executor=executor,
            emit=emit,
        )
        job = DecryptJob(
            bid, bid.name, bid.stat().st_size, hashlib.sha256(b"").hexdigest(), output=out_dir / "clair.bin"
        )
        task = asyncio.create_task(decrypt_file(ctx, job))
        await asyncio.wait_for(progress_seen.wait(), 30)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)  # let the worker notice and clean up

    asyncio.run(go())
    executor.shutdown()
    assert list(out_dir.iterdir()) == []


def test_random_corruption_only_clean_errors(pki: DevPki, p12: TokenManager, tmp_path: Path) -> None:
    """Any single-byte change or cut of a bid gives a SceauError (never another exception) and no plaintext."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    plain = tmp_path / "p"
    plain.write_bytes(b"plans du lot 3 " * 300)
    originals = {
        (cipher, sized): _encrypt(pki, plain, tmp_path / f"{cipher}{sized}.p7m", cipher, sized)
        for cipher in ("aes-256-cbc", "aes-256-gcm")
        for sized in (True, False)
    }
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(sorted(originals)), st.data())
    def check(key: tuple[str, bool], data: st.DataObject) -> None:
        bid = bytearray(originals[key])
        pos = data.draw(st.integers(0, len(bid) - 1))
        if data.draw(st.booleans()):
            bid[pos] = data.draw(st.integers(0, 255))
        else:
            del bid[pos:]
        src = tmp_path / "mut.p7m"
        src.write_bytes(bytes(bid))
        try:
            run_decrypt(p12, src, out_dir / "clair")
        except SceauError:
            assert list(out_dir.iterdir()) == []
        else:
            (out_dir / "clair").unlink()  # CBC without integrity: a garbled but well-formed bid may open

    check()
