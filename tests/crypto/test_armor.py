"""PEM / S/MIME decoding on the fly, at every chunk boundary."""

from __future__ import annotations

import base64
import io

import pytest

from sceau.crypto import armor
from sceau.errors import InvalidInput


def _pem(der: bytes) -> bytes:
    b64 = base64.encodebytes(der)
    return b"-----BEGIN PKCS7-----\n" + b64 + b"-----END PKCS7-----\n"


@pytest.mark.parametrize("chunk", [5, 64, 1000, 1 << 20])
@pytest.mark.parametrize("kind", ["pem", "smime"])
def test_decodes_across_chunks(chunk: int, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(armor, "CHUNK", chunk)
    monkeypatch.setattr(armor, "MAX_HEADER", max(chunk, 200))
    der = b"\x30\x82" + bytes(range(256)) * 40
    if kind == "pem":
        text = _pem(der)
    else:
        text = (
            b"MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\n"
            b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(der) + b"\n"
        )
    stream, armored = armor.open_bid(io.BytesIO(text))
    assert armored
    out = bytearray()
    buf = bytearray(777)
    while n := stream.readinto(buf):  # type: ignore[attr-defined]
        out += buf[:n]
    assert bytes(out) == der


def test_der_passes_through_and_garbage_is_refused() -> None:
    raw = io.BytesIO(b"\x30\x03\x02\x01\x00")
    stream, armored = armor.open_bid(raw)
    assert stream is raw and not armored and raw.tell() == 0
    with pytest.raises(InvalidInput):
        armor.open_bid(io.BytesIO(b"%PDF-1.7 not a bid"))
    stream, _ = armor.open_bid(io.BytesIO(b"-----BEGIN PKCS7-----\n@@@@\n-----END PKCS7-----\n"))
    with pytest.raises(InvalidInput):
        stream.readinto(bytearray(10))  # type: ignore[attr-defined]
