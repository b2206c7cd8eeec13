"""Streaming encryption to recipient certificates: CMS EnvelopedData (AES-CBC) or AuthEnvelopedData (AES-GCM).

RSA recipients get a ktri (PKCS#1 v1.5 by default: every buyer token can open it; OAEP by
option), EC recipients a kari (ephemeral-static ECDH, X9.63 KDF with SHA-256/384, AES-256 key
wrap, RFC 5753). When the plaintext size is known the output is DER with definite lengths
computed up front; otherwise it is indefinite-length BER. Either way it is written in 1 MiB
steps through a read-ahead and a write-behind thread (crypto.pipeline), so memory does not depend
on the size and the disk works while the cipher does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from asn1crypto import algos, cms, core, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from sceau.crypto import algorithms as alg
from sceau.crypto import kari
from sceau.crypto.pipeline import ReaderThread, WriterThread
from sceau.errors import InvalidInput, TooLarge, Unsupported
from sceau.i18n import _

CHUNK = 1 << 20
GCM_TAG_LENGTH = 16
MAX_RECIPIENTS = 100
ENCRYPT_CIPHERS = ("aes-256-cbc", "aes-128-cbc", "aes-256-gcm", "aes-128-gcm")
RSA_PADDINGS = ("pkcs1v15", "oaep-sha1", "oaep-sha256")
MIN_RSA_BITS = 2048
EC_CURVES: dict[str, tuple[str, hashes.HashAlgorithm]] = {
    "secp256r1": (alg.OID_KARI_SHA256, hashes.SHA256()),
    "secp384r1": (alg.OID_KARI_SHA384, hashes.SHA384()),
    "secp521r1": ("1.3.132.1.11.3", hashes.SHA512()),
}


@dataclass(frozen=True)
class EncryptOptions:
    cipher: str = "aes-256-cbc"
    rsa_padding: str = "pkcs1v15"

    def __post_init__(self) -> None:
        if self.cipher not in ENCRYPT_CIPHERS:
            raise Unsupported(_("Unsupported cipher {name}.").format(name=self.cipher[:32]))
        if self.rsa_padding not in RSA_PADDINGS:
            raise Unsupported(_("Unsupported RSA padding {name}.").format(name=self.rsa_padding[:32]))


@dataclass(frozen=True)
class EncryptResult:
    plaintext_size: int
    size: int  # bytes written
    algorithm: str
    recipients: int


def check_recipient(cert: x509.Certificate, when: datetime | None = None) -> None:
    """Refuse certificates that cannot (or must not) receive an encrypted bid."""
    when = when or datetime.now(UTC)
    cn = cert.subject.rfc4514_string()[:80]
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise InvalidInput(_("The recipient certificate {cn} is expired or not yet valid.").format(cn=cn))
    try:
        ku: x509.KeyUsage | None = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise InvalidInput(_("The recipient key of {cn} is too short.").format(cn=cn))
        if ku is not None and not ku.key_encipherment:
            raise InvalidInput(
                _("The certificate {cn} is not an encryption certificate (keyEncipherment).").format(cn=cn)
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            raise Unsupported(_("The curve of {cn} is not supported.").format(cn=cn))
        if ku is not None and not ku.key_agreement:
            raise InvalidInput(_("The certificate {cn} is not an encryption certificate (keyAgreement).").format(cn=cn))
    else:
        raise Unsupported(_("The key type of {cn} cannot receive encrypted files.").format(cn=cn))


def _rid(cert: x509.Certificate) -> cms.IssuerAndSerialNumber:
    a = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    return cms.IssuerAndSerialNumber({"issuer": a.issuer, "serial_number": a.serial_number})


def _ktri(cert: x509.Certificate, key: rsa.RSAPublicKey, cek: bytes, pad: str) -> cms.RecipientInfo:
    if pad == "pkcs1v15":
        kea = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_pkcs1v15", "parameters": core.Null()})
        encrypted = key.encrypt(cek, padding.PKCS1v15())
    else:
        name = "sha1" if pad == "oaep-sha1" else "sha256"
        h: hashes.HashAlgorithm = hashes.SHA1() if name == "sha1" else hashes.SHA256()  # noqa: S303
        params = algos.RSAESOAEPParams(
            {
                "hash_algorithm": {"algorithm": name},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": name}},
            }
        )
        kea = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_oaep", "parameters": params})
        encrypted = key.encrypt(cek, padding.OAEP(padding.MGF1(h), h, None))
    return cms.RecipientInfo(
        name="ktri",
        value=cms.KeyTransRecipientInfo(
            {
                "version": "v0",
                "rid": {"issuer_and_serial_number": _rid(cert)},
                "key_encryption_algorithm": kea,
                "encrypted_key": encrypted,
            }
        ),
    )


def _kari(cert: x509.Certificate, key: ec.EllipticCurvePublicKey, cek: bytes) -> cms.RecipientInfo:
    scheme, kdf_hash = EC_CURVES[key.curve.name]
    ephemeral = ec.generate_private_key(key.curve)
    z = ephemeral.exchange(ec.ECDH(), key)
    wrap_alg = cms.KeyEncryptionAlgorithm({"algorithm": "aes256_wrap"})
    kek = kari.derive_kek(z, kdf_hash, 32, kari.shared_info(wrap_alg.dump(), 32, None))
    point = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    originator = keys.PublicKeyInfo({"algorithm": {"algorithm": "ec"}, "public_key": point})
    return cms.RecipientInfo(
        name="kari",
        value=cms.KeyAgreeRecipientInfo(
            {
                "version": "v3",
                "originator": cms.OriginatorIdentifierOrKey(name="originator_key", value=originator),
                "key_encryption_algorithm": cms.KeyEncryptionAlgorithm(
                    {"algorithm": scheme, "parameters": core.Any.load(wrap_alg.dump())}
                ),
                "recipient_encrypted_keys": [
                    {"rid": {"issuer_and_serial_number": _rid(cert)}, "encrypted_key": kari.wrap(kek, cek)}
                ],
            }
        ),
    )


def _header(tag: int, length: int | None) -> bytes:
    if length is None:
        return bytes([tag, 0x80])
    if length < 0x80:
        return bytes([tag, length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(body)]) + body


def _tlv_len(length: int) -> int:
    return len(_header(0, length)) + length


def encrypt_stream(
    src: BinaryIO,
    out: BinaryIO,
    recipients: Sequence[x509.Certificate],
    *,
    size: int | None,
    options: EncryptOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> EncryptResult:
    """Encrypt `src` (exactly `size` bytes when given) for every certificate in `recipients` into `out`."""
    options = options or EncryptOptions()
    if not recipients:
        raise InvalidInput(_("At least one recipient certificate is needed."))
    if len(recipients) > MAX_RECIPIENTS:
        raise TooLarge(_("Too many recipients."))
    for cert in recipients:
        check_recipient(cert)
    cipher = alg.CIPHERS_BY_NAME[options.cipher]
    cek = os.urandom(cipher.key_size)
    infos: list[cms.RecipientInfo] = []
    for cert in recipients:
        pub = cert.public_key()
        if isinstance(pub, rsa.RSAPublicKey):
            infos.append(_ktri(cert, pub, cek, options.rsa_padding))
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            infos.append(_kari(cert, pub, cek))
    gcm = cipher.mode == "gcm"
    iv = os.urandom(12 if gcm else 16)
    if gcm:
        params: core.Asn1Value = alg.GcmParameters({"aes_nonce": iv, "aes_icvlen": GCM_TAG_LENGTH})
        gcm_enc = Cipher(algorithms.AES(cek), modes.GCM(iv)).encryptor()
        enc: CipherContext = gcm_enc
    else:
        params = core.OctetString(iv)
        enc = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
    content_alg = algos.EncryptionAlgorithm({"algorithm": cipher.oid, "parameters": params}).dump()
    version = 0 if gcm or all(i.name == "ktri" for i in infos) else 2
    version_der = core.Integer(version).dump()
    ris_der = cms.RecipientInfos(infos).dump()
    data_oid = core.ObjectIdentifier(alg.OID_DATA).dump()
    outer_oid = core.ObjectIdentifier(alg.OID_AUTH_ENVELOPED_DATA if gcm else alg.OID_ENVELOPED_DATA).dump()
    mac_len = _tlv_len(GCM_TAG_LENGTH) if gcm else 0

    if size is not None:
        ct_len = size if gcm else (size // cipher.block_size + 1) * cipher.block_size
        eci_len = len(data_oid) + len(content_alg) + _tlv_len(ct_len)
        env_len = len(version_der) + len(ris_der) + _tlv_len(eci_len) + mac_len
        ci_len = len(outer_oid) + _tlv_len(_tlv_len(env_len))
        prefix = (
            _header(0x30, ci_len)
            + outer_oid
            + _header(0xA0, _tlv_len(env_len))
            + _header(0x30, env_len)
            + version_der
            + ris_der
            + _header(0x30, eci_len)
            + data_oid
            + content_alg
            + _header(0x80, ct_len)
        )
    else:
        prefix = (
            b"\x30\x80"
            + outer_oid
            + b"\xa0\x80\x30\x80"
            + version_der
            + ris_der
            + b"\x30\x80"
            + data_oid
            + content_alg
            + b"\xa0\x80"
        )
    written = 0
    # Reads ahead and writes behind in two threads while this one ciphers (see crypto.pipeline).
    writer = WriterThread(out, CHUNK + 32)

    def write(data: bytes) -> None:
        nonlocal written
        writer.submit(data, len(data))
        written += len(data)

    def emit(data: bytes) -> None:
        if size is None and len(data):
            write(_header(0x04, len(data)))
        write(data)

    total = 0
    reader = ReaderThread(src, CHUNK)
    try:
        write(prefix)
        for view in reader:
            n = len(view)
            total += n
            if size is not None and total > size:
                raise InvalidInput(_("The file changed while it was being encrypted."))
            obuf = writer.acquire()
            m = enc.update_into(view, obuf)
            if size is None and m:
                write(_header(0x04, m))
            writer.submit(obuf, m)
            written += m
            if progress is not None:
                progress(total)
        if size is not None and total != size:
            raise InvalidInput(_("The file changed while it was being encrypted."))
        if not gcm:
            pad = cipher.block_size - total % cipher.block_size
            emit(enc.update(bytes([pad]) * pad) + enc.finalize())
        else:
            emit(enc.finalize())
        trailer = b"" if size is not None else b"\x00\x00\x00\x00"  # content [0], ECI
        if gcm:
            trailer += _header(0x04, GCM_TAG_LENGTH) + gcm_enc.tag
        if size is None:
            trailer += b"\x00\x00" * 3  # EnvelopedData, [0], ContentInfo
        write(trailer)
    except BaseException:
        reader.close(wait=False)
        writer.abort()
        raise
    writer.close()
    return EncryptResult(total, written, cipher.name, len(recipients))
