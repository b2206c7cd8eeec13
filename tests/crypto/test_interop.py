"""openssl cms ⇄ sceau, through both token backends (PKCS#12 file and SoftHSM2 token)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from sceau.crypto.cms_encrypt import EncryptOptions, encrypt_stream
from sceau.devkit.pki import DevPki
from sceau.tokens.pkcs12 import Pkcs12Backend
from sceau.tokens.registry import TokenManager

from .conftest import openssl_decrypt, openssl_encrypt

OAEP_SHA256 = ("-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256", "-keyopt", "rsa_mgf1_md:sha256")
CASES = {
    "aes256cbc-rsa": ("enc-rsa2048", ("-aes-256-cbc",), "aes-256-cbc"),
    "aes128cbc-rsa3072": ("enc-rsa3072", ("-aes-128-cbc",), "aes-128-cbc"),
    "aes192cbc-stream": ("enc-rsa2048", ("-aes-192-cbc", "-stream"), "aes-192-cbc"),
    "oaep-sha1": ("enc-rsa2048", ("-aes-256-cbc", "-keyopt", "rsa_padding_mode:oaep"), "aes-256-cbc"),
    "oaep-sha256": ("enc-rsa3072", ("-aes-256-cbc", *OAEP_SHA256), "aes-256-cbc"),
    "ski-rid": ("enc-backup-rsa2048", ("-aes-256-cbc", "-keyid"), "aes-256-cbc"),
    "ec-p256": ("enc-ec256", ("-aes-256-cbc",), "aes-256-cbc"),
    "ec-p256-ski": ("enc-ec256", ("-aes-128-cbc", "-keyid", "-stream"), "aes-128-cbc"),
    "gcm-rsa": ("enc-rsa2048", ("-aes-256-gcm",), "aes-256-gcm"),
    "gcm-ec-stream": ("enc-ec256", ("-aes-128-gcm", "-stream"), "aes-128-gcm"),
    "3des-old-archive": ("enc-rsa2048", ("-des3",), "des-ede3-cbc"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_openssl_encrypt_sceau_decrypt(
    case: str,
    manager: TokenManager,
    pki: DevPki,
    plaintext: Path,
    tmp_path: Path,
    decrypt: Callable[..., dict[str, Any]],
) -> None:
    name, args, algorithm = CASES[case]
    bid = tmp_path / "pli.p7m"
    # Encrypted to the recipient and to another buyer's key, like main + backup keys.
    other = "enc-backup-rsa2048" if name != "enc-backup-rsa2048" else "enc-rsa2048"
    openssl_encrypt(plaintext, bid, [pki[other].cert, pki[name].cert], *args)
    out = tmp_path / "offre.pdf"
    report = decrypt(manager, bid, out, certificate=None)
    assert out.read_bytes() == plaintext.read_bytes()
    assert report["algorithm"] == algorithm
    assert report["certificate"]["serialNumber"] in (format(pki[name].serial, "x"), format(pki[other].serial, "x"))
    assert len(report["recipients"]) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


@pytest.mark.parametrize("cipher", ["aes-256-cbc", "aes-256-gcm"])
@pytest.mark.parametrize("padding", ["pkcs1v15", "oaep-sha256"])
@pytest.mark.parametrize("sized", [True, False], ids=["der", "ber-indefinite"])
def test_sceau_encrypt_openssl_decrypt(
    cipher: str, padding: str, sized: bool, pki: DevPki, plaintext: Path, tmp_path: Path
) -> None:
    names = ["enc-rsa2048", "enc-backup-rsa2048", "enc-ec256"]
    bid = tmp_path / "pli.p7m"
    with open(plaintext, "rb") as src, open(bid, "wb") as out:
        encrypt_stream(
            src,
            out,
            [pki.cert(n) for n in names],
            size=plaintext.stat().st_size if sized else None,
            options=EncryptOptions(cipher, padding),
        )
    if sized:  # definite lengths: strict DER parsers accept it
        subprocess.run(
            ["openssl", "asn1parse", "-inform", "DER", "-in", str(bid), "-strictpem"], check=False, capture_output=True
        )
        assert bid.read_bytes()[:2] != b"\x30\x80"
    for n in names:
        got = tmp_path / f"{n}.out"
        proc = openssl_decrypt(bid, got, pki[n].cert, pki[n].key_pem)
        assert proc.returncode == 0, proc.stderr
        assert got.read_bytes() == plaintext.read_bytes()


def test_sceau_roundtrip_on_both_backends(
    manager: TokenManager, pki: DevPki, plaintext: Path, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]
) -> None:
    bid = tmp_path / "pli.p7m"
    with open(plaintext, "rb") as src, open(bid, "wb") as out:
        encrypt_stream(src, out, [pki.cert("enc-ec256")], size=None, options=EncryptOptions("aes-256-gcm"))
    out_path = tmp_path / "clair"
    report = decrypt(manager, bid, out_path)
    assert out_path.read_bytes() == plaintext.read_bytes()
    assert report["certificate"]["keyType"] == "ec"


def test_p384_recipient(tmp_path: Path, pki: DevPki, plaintext: Path, decrypt: Callable[..., dict[str, Any]]) -> None:
    """P-384 kari (openssl → sceau and sceau → openssl) with a throw-away PKCS#12."""
    from datetime import UTC, datetime, timedelta

    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Acheteur P-384")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.KeyUsage(False, False, False, False, True, False, False, False, False), critical=True)
        .sign(key, hashes.SHA384())
    )
    cert_pem, key_pem, p12 = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "k.p12"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(b"k", key, cert, None, serialization.BestAvailableEncryption(b"pw"))
    )
    manager = TokenManager([Pkcs12Backend([p12], {p12: "pw"})])
    bid = tmp_path / "a.p7m"
    openssl_encrypt(plaintext, bid, [str(cert_pem)], "-aes-256-cbc")
    report = decrypt(manager, bid, tmp_path / "a.out")
    assert (tmp_path / "a.out").read_bytes() == plaintext.read_bytes()
    assert report["certificate"]["keySize"] == 384
    bid2 = tmp_path / "b.p7m"
    with open(plaintext, "rb") as src, open(bid2, "wb") as out:
        encrypt_stream(src, out, [cert], size=plaintext.stat().st_size)
    assert openssl_decrypt(bid2, tmp_path / "b.out", str(cert_pem), str(key_pem)).returncode == 0
    assert (tmp_path / "b.out").read_bytes() == plaintext.read_bytes()


@pytest.mark.parametrize("form", ["SMIME", "PEM"])
def test_text_armoured_bids(
    form: str, pki: DevPki, plaintext: Path, tmp_path: Path, decrypt: Callable[..., dict[str, Any]]
) -> None:
    """openssl's default S/MIME output and PEM are decoded on the fly."""
    from .conftest import pkcs12_manager

    bid = tmp_path / "pli.txt"
    subprocess.run(
        [
            "openssl",
            "cms",
            "-encrypt",
            "-binary",
            "-aes-256-cbc",
            "-in",
            str(plaintext),
            "-outform",
            form,
            "-out",
            str(bid),
            pki["enc-rsa2048"].cert,
        ],
        check=True,
        capture_output=True,
    )
    decrypt(pkcs12_manager(pki), bid, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == plaintext.read_bytes()
