"""ECDH key agreement helpers for CMS kari (RFC 5753): ECC-CMS-SharedInfo, X9.63 KDF, AES key wrap.

The token only computes the shared secret Z (`Token.derive_ecdh`); everything after it is done
here in software, the same way for decryption and encryption.
"""

from __future__ import annotations

from asn1crypto import core
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF


class EccCmsSharedInfo(core.Sequence):  # type: ignore[misc]
    """RFC 5753 §7.2 ECC-CMS-SharedInfo."""

    _fields = [
        ("key_info", core.Any),  # the key-wrap AlgorithmIdentifier, exactly as in the message
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


def shared_info(wrap_algorithm_der: bytes, kek_length: int, ukm: bytes | None) -> bytes:
    """DER ECC-CMS-SharedInfo for a KEK of `kek_length` bytes."""
    info = EccCmsSharedInfo(
        {
            "key_info": core.Any.load(wrap_algorithm_der),
            "entity_u_info": ukm,
            "supp_pub_info": (kek_length * 8).to_bytes(4, "big"),
        }
    )
    return bytes(info.dump())


def derive_kek(z: bytes, hash_algorithm: hashes.HashAlgorithm, kek_length: int, info: bytes) -> bytes:
    """ANSI X9.63 KDF of the shared secret `z` into the key-encryption key."""
    return X963KDF(algorithm=hash_algorithm, length=kek_length, sharedinfo=info).derive(z)


def unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """RFC 3394 AES key unwrap; raises `keywrap.InvalidUnwrap` on an integrity failure."""
    return keywrap.aes_key_unwrap(kek, wrapped)


def wrap(kek: bytes, key: bytes) -> bytes:
    return keywrap.aes_key_wrap(kek, key)
