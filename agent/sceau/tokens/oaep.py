"""EME-OAEP decoding (RFC 8017 §7.1.2) for tokens that only do raw RSA for OAEP-SHA256.

SoftHSM2 and several cards implement CKM_RSA_PKCS_OAEP with SHA-1 only; with CKM_RSA_X_509 we
decode the padding here. All checks are combined before the single failure, as the RFC asks,
so the error reveals nothing about which check failed.
"""

from __future__ import annotations

import hashlib
import hmac


def _mgf1(seed: bytes, length: int, hash_name: str) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.new(hash_name, seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:length])


def oaep_decode(em: bytes, k: int, hash_name: str = "sha256", label: bytes = b"") -> bytes | None:
    """Decode an encoded message `em` (k bytes). Returns None on any failure (one outcome)."""
    h_len = hashlib.new(hash_name).digest_size
    if len(em) < k:
        em = bytes(k - len(em)) + em
    if len(em) != k or k < 2 * h_len + 2:
        return None
    l_hash = hashlib.new(hash_name, label).digest()
    y, masked_seed, masked_db = em[0], em[1 : 1 + h_len], em[1 + h_len :]
    seed = bytes(a ^ b for a, b in zip(masked_seed, _mgf1(masked_db, h_len, hash_name), strict=True))
    db = bytes(a ^ b for a, b in zip(masked_db, _mgf1(seed, k - h_len - 1, hash_name), strict=True))
    good = hmac.compare_digest(db[:h_len], l_hash) & (y == 0)
    # Find the 0x01 separator without early exit.
    index = 0
    found = 0
    bad_padding = 0
    for i in range(h_len, len(db)):
        byte = db[i]
        is_one = int(byte == 1)
        is_zero = int(byte == 0)
        take = is_one & (1 - found)
        index = index if not take else i
        bad_padding |= (1 - found) & (1 - is_one) & (1 - is_zero)
        found |= is_one
    if not (good and found and not bad_padding):
        return None
    return db[index + 1 :]
