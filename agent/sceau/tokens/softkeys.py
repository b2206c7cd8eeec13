"""Private-key primitives done in software (PKCS#12 backend), matching the token semantics."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from sceau.errors import InvalidInput, Unsupported
from sceau.i18n import _
from sceau.tokens.base import Digest, RsaDecryptPadding, SignScheme

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def sign(key: PrivateKey, data: bytes, scheme: SignScheme, digest: Digest, prehashed: bool) -> bytes:
    """Sign like a token would: raw r ‖ s for ECDSA."""
    if prehashed and len(data) != digest.size:
        raise InvalidInput(_("The digest length does not match {alg}.").format(alg=digest.value))
    algo: hashes.HashAlgorithm | utils.Prehashed = utils.Prehashed(digest.hash()) if prehashed else digest.hash()
    if isinstance(key, rsa.RSAPrivateKey):
        if scheme is SignScheme.RSA_PKCS1V15:
            return key.sign(data, padding.PKCS1v15(), algo)
        if scheme is SignScheme.RSA_PSS:
            return key.sign(data, padding.PSS(padding.MGF1(digest.hash()), digest.size), algo)
        raise Unsupported(f"{scheme} with an RSA key")
    if scheme is not SignScheme.ECDSA:
        raise Unsupported(f"{scheme} with an EC key")
    der = key.sign(data, ec.ECDSA(algo))
    r, s = utils.decode_dss_signature(der)
    width = (key.curve.key_size + 7) // 8
    return r.to_bytes(width, "big") + s.to_bytes(width, "big")


def rsa_padding(kind: RsaDecryptPadding) -> padding.AsymmetricPadding:
    if kind is RsaDecryptPadding.PKCS1V15:
        return padding.PKCS1v15()
    h: hashes.HashAlgorithm = hashes.SHA1() if kind is RsaDecryptPadding.OAEP_SHA1 else hashes.SHA256()  # noqa: S303
    return padding.OAEP(padding.MGF1(h), h, None)


def ecdh(key: PrivateKey, peer_point: bytes) -> bytes:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise Unsupported("ECDH needs an EC key")
    peer = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, peer_point)
    return key.exchange(ec.ECDH(), peer)
