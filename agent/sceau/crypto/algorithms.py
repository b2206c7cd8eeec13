"""Algorithm identifiers of CMS enveloping (RFC 5652, 5083/5084, 3560, 5753) and their cipher objects."""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import algos, core
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from sceau.errors import InvalidInput, Unsupported
from sceau.i18n import _

OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
OID_AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
OID_RSAES_OAEP = "1.2.840.113549.1.1.7"
OID_MGF1 = "1.2.840.113549.1.1.8"
OID_SHA1 = "1.3.14.3.2.26"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"

# ECDH key agreement schemes (RFC 5753 / SEC 1): standard and cofactor DH are the same on
# the NIST prime curves (cofactor 1).
KARI_SCHEMES: dict[str, hashes.HashAlgorithm] = {
    "1.3.133.16.840.63.0.2": hashes.SHA1(),  # noqa: S303 - dhSinglePass-stdDH-sha1kdf-scheme
    "1.3.132.1.11.0": hashes.SHA224(),
    "1.3.132.1.11.1": hashes.SHA256(),
    "1.3.132.1.11.2": hashes.SHA384(),
    "1.3.132.1.11.3": hashes.SHA512(),
    "1.3.133.16.840.63.0.3": hashes.SHA1(),  # noqa: S303 - dhSinglePass-cofactorDH-sha1kdf-scheme
    "1.3.132.1.14.0": hashes.SHA224(),
    "1.3.132.1.14.1": hashes.SHA256(),
    "1.3.132.1.14.2": hashes.SHA384(),
    "1.3.132.1.14.3": hashes.SHA512(),
}
OID_KARI_SHA256 = "1.3.132.1.11.1"
OID_KARI_SHA384 = "1.3.132.1.11.2"

AES_WRAP: dict[str, int] = {
    "2.16.840.1.101.3.4.1.5": 16,
    "2.16.840.1.101.3.4.1.25": 24,
    "2.16.840.1.101.3.4.1.45": 32,
}


@dataclass(frozen=True)
class ContentCipher:
    """A content-encryption algorithm we can run."""

    name: str
    oid: str
    key_size: int
    mode: str  # "cbc" or "gcm"
    block_size: int = 16

    @property
    def authenticated(self) -> bool:
        return self.mode == "gcm"


CONTENT_CIPHERS: dict[str, ContentCipher] = {
    c.oid: c
    for c in (
        ContentCipher("aes-128-cbc", "2.16.840.1.101.3.4.1.2", 16, "cbc"),
        ContentCipher("aes-192-cbc", "2.16.840.1.101.3.4.1.22", 24, "cbc"),
        ContentCipher("aes-256-cbc", "2.16.840.1.101.3.4.1.42", 32, "cbc"),
        ContentCipher("aes-128-gcm", "2.16.840.1.101.3.4.1.6", 16, "gcm"),
        ContentCipher("aes-192-gcm", "2.16.840.1.101.3.4.1.26", 24, "gcm"),
        ContentCipher("aes-256-gcm", "2.16.840.1.101.3.4.1.46", 32, "gcm"),
        ContentCipher("des-ede3-cbc", "1.2.840.113549.3.7", 24, "cbc", 8),  # old archives, decrypt only
    )
}
CIPHERS_BY_NAME = {c.name: c for c in CONTENT_CIPHERS.values()}


class GcmParameters(core.Sequence):  # type: ignore[misc]
    """RFC 5084 GCMParameters."""

    _fields = [("aes_nonce", core.OctetString), ("aes_icvlen", core.Integer, {"default": 12})]


@dataclass(frozen=True)
class ContentParams:
    cipher: ContentCipher
    iv: bytes  # CBC IV or GCM nonce
    tag_length: int = 0


def content_params(alg: algos.EncryptionAlgorithm) -> ContentParams:
    """Cipher, IV/nonce and tag length from a contentEncryptionAlgorithm."""
    oid = alg["algorithm"].dotted
    cipher = CONTENT_CIPHERS.get(oid)
    if cipher is None:
        raise Unsupported(_("Unsupported content encryption algorithm ({oid}).").format(oid=oid[:64]))
    try:
        raw = alg["parameters"].dump()
        if cipher.mode == "gcm":
            params = GcmParameters.load(raw)
            nonce = bytes(params["aes_nonce"].native)
            tag_len = int(params["aes_icvlen"].native)
            if not 1 <= len(nonce) <= 64 or tag_len not in (12, 13, 14, 15, 16):
                raise InvalidInput(_("Invalid AES-GCM parameters."))
            return ContentParams(cipher, nonce, tag_len)
        iv = bytes(core.OctetString.load(raw).native)
    except (ValueError, TypeError):
        raise InvalidInput(_("Invalid content encryption parameters.")) from None
    if len(iv) != cipher.block_size:
        raise InvalidInput(_("Invalid content encryption parameters."))
    return ContentParams(cipher, iv)


def decryptor(params: ContentParams, key: bytes) -> CipherContext:
    """A streaming decryptor (GCM: the tag is given at finalize time)."""
    if params.cipher.name == "des-ede3-cbc":
        return Cipher(TripleDES(key), modes.CBC(params.iv)).decryptor()
    mode: modes.Mode
    if params.cipher.mode == "gcm":
        mode = modes.GCM(params.iv, min_tag_length=params.tag_length)
    else:
        mode = modes.CBC(params.iv)
    return Cipher(algorithms.AES(key), mode).decryptor()


def oaep_hash(params: object) -> str:
    """The OAEP hash ("sha1"/"sha256") from RSAES-OAEP-params; MGF1 must use the same hash, label empty."""
    from asn1crypto.algos import RSAESOAEPParams

    if not isinstance(params, RSAESOAEPParams):
        return "sha1"  # absent parameters: all defaults (SHA-1, MGF1-SHA-1)
    hash_oid = params["hash_algorithm"]["algorithm"].dotted
    mgf = params["mask_gen_algorithm"]
    if mgf["algorithm"].dotted != OID_MGF1:
        raise Unsupported(_("Unsupported RSA-OAEP mask generation function."))
    mgf_hash = mgf["parameters"]["algorithm"].dotted
    label = params["p_source_algorithm"]["parameters"].native
    if label:
        raise Unsupported(_("RSA-OAEP with a label is not supported."))
    names = {OID_SHA1: "sha1", OID_SHA256: "sha256"}
    if hash_oid not in names or mgf_hash != hash_oid:
        raise Unsupported(_("Unsupported RSA-OAEP hash (SHA-1 and SHA-256 are supported)."))
    return names[hash_oid]
