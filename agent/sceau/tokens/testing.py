"""Conformance suite every token backend must pass (keyring-style shared tests).

A test module subclasses `TokenConformance` and provides the fixtures `token` (a Token whose
certificates are the dev PKI identities, unlocked) and `prompt` (a PinPrompt giving the right
PIN/password). Each test checks results with `cryptography` against the certificate.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from sceau.protocol.codes import Role
from sceau.tokens.base import CertificateEntry, Digest, PinPrompt, RsaDecryptPadding, SignScheme, Token


def entry_named(token: Token, name: str) -> CertificateEntry:
    for e in token.certificates():
        if e.label == name:
            return e
    raise AssertionError(f"{name} not on {token.info.label}")


def verify_signature(entry: CertificateEntry, data: bytes, sig: bytes, scheme: SignScheme, digest: Digest) -> None:
    """Verify a token signature with `cryptography` (raises InvalidSignature)."""
    key = entry.certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        half = len(sig) // 2
        der = utils.encode_dss_signature(int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big"))
        key.verify(der, data, ec.ECDSA(digest.hash()))
        return
    assert isinstance(key, rsa.RSAPublicKey)
    pad: padding.AsymmetricPadding = (
        padding.PKCS1v15()
        if scheme is SignScheme.RSA_PKCS1V15
        else padding.PSS(padding.MGF1(digest.hash()), digest.size)
    )
    key.verify(sig, data, pad, digest.hash())


class TokenConformance:
    """Shared tests. Identity names come from `sceau.devkit.pki.SPECS`."""

    def test_lists_certificates_with_roles(self, token: Token) -> None:
        roles = {e.label: e.roles for e in token.certificates()}
        assert roles["sign-rsa2048"] == frozenset({Role.SIGN})
        assert roles["auth-ec256"] == frozenset({Role.AUTH})
        assert roles["enc-ec256"] == frozenset({Role.ENCRYPT})
        assert roles["enc-rsa2048"] == frozenset({Role.ENCRYPT})

    @pytest.mark.parametrize("digest", list(Digest))
    @pytest.mark.parametrize("name", ["sign-rsa2048", "sign-ec256", "sign-rsa3072"])
    def test_sign_data(self, token: Token, prompt: PinPrompt, name: str, digest: Digest) -> None:
        entry = entry_named(token, name)
        scheme = SignScheme.ECDSA if entry.key_type == "ec" else SignScheme.RSA_PKCS1V15
        data = os.urandom(100)
        sig = token.sign_raw(entry, data, scheme, digest, prehashed=False, prompt=prompt)
        verify_signature(entry, data, sig, scheme, digest)
        if entry.key_type == "ec":
            assert len(sig) == 2 * ((entry.key_size + 7) // 8)  # raw r ‖ s, fixed width

    @pytest.mark.parametrize("scheme", [SignScheme.RSA_PKCS1V15, SignScheme.RSA_PSS])
    def test_sign_prehashed_rsa(self, token: Token, prompt: PinPrompt, scheme: SignScheme) -> None:
        entry = entry_named(token, "sign-rsa2048")
        data = b"bordereau"
        sig = token.sign_raw(entry, hashlib.sha256(data).digest(), scheme, Digest.SHA256, prehashed=True, prompt=prompt)
        verify_signature(entry, data, sig, scheme, Digest.SHA256)

    def test_sign_prehashed_ec(self, token: Token, prompt: PinPrompt) -> None:
        entry = entry_named(token, "auth-ec256")
        digest = hashlib.sha384(b"x").digest()
        sig = token.sign_raw(entry, digest, SignScheme.ECDSA, Digest.SHA384, prehashed=True, prompt=prompt)
        verify_signature(entry, b"x", sig, SignScheme.ECDSA, Digest.SHA384)

    def test_wrong_digest_length_refused(self, token: Token, prompt: PinPrompt) -> None:
        from sceau.errors import SceauError

        entry = entry_named(token, "sign-rsa2048")
        with pytest.raises(SceauError):
            token.sign_raw(entry, b"short", SignScheme.RSA_PKCS1V15, Digest.SHA256, prehashed=True, prompt=prompt)

    @pytest.mark.parametrize("pad", list(RsaDecryptPadding))
    def test_decrypt_raw(self, token: Token, prompt: PinPrompt, pad: RsaDecryptPadding) -> None:
        entry = entry_named(token, "enc-rsa2048")
        key = entry.certificate.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        secret = os.urandom(32)
        if pad is RsaDecryptPadding.PKCS1V15:
            ct = key.encrypt(secret, padding.PKCS1v15())
        else:
            h: hashes.HashAlgorithm = hashes.SHA1() if pad is RsaDecryptPadding.OAEP_SHA1 else hashes.SHA256()  # noqa: S303
            ct = key.encrypt(secret, padding.OAEP(padding.MGF1(h), h, None))
        assert token.decrypt_raw(entry, ct, pad, prompt=prompt) == secret

    def test_decrypt_garbage_is_one_error(self, token: Token, prompt: PinPrompt) -> None:
        """Wrong ciphertexts fail with the one generic error; for PKCS#1 v1.5, backends with implicit
        rejection (Marvin countermeasure) may instead return unrelated bytes, never an oracle."""
        from sceau.errors import InvalidInput

        entry = entry_named(token, "enc-rsa2048")
        other = rsa.generate_private_key(65537, 2048).public_key()
        for pad in RsaDecryptPadding:
            h: hashes.HashAlgorithm = hashes.SHA1() if pad is RsaDecryptPadding.OAEP_SHA1 else hashes.SHA256()  # noqa: S303
            scheme = padding.PKCS1v15() if pad is RsaDecryptPadding.PKCS1V15 else padding.OAEP(padding.MGF1(h), h, None)
            secret = os.urandom(32)
            # Encrypted for another key: below our modulus with probability ~1/2; retry until it is.
            n = entry.certificate.public_key().public_numbers().n  # type: ignore[union-attr]
            ct = other.encrypt(secret, scheme)
            while int.from_bytes(ct, "big") >= n:
                ct = other.encrypt(secret, scheme)
            try:
                result = token.decrypt_raw(entry, ct, pad, prompt=prompt)
            except InvalidInput as exc:
                assert exc.message in ("Decryption failed.", "Échec du déchiffrement.")
            else:
                assert pad is RsaDecryptPadding.PKCS1V15 and result != secret

    def test_ecdh_matches_software(self, token: Token, prompt: PinPrompt) -> None:
        entry = entry_named(token, "enc-ec256")
        eph = ec.generate_private_key(ec.SECP256R1())
        point = eph.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        peer = entry.certificate.public_key()
        assert isinstance(peer, ec.EllipticCurvePublicKey)
        assert token.derive_ecdh(entry, point, prompt=prompt) == eph.exchange(ec.ECDH(), peer)

    def test_key_not_allowed_to_decrypt_is_a_clear_error(self, token: Token, prompt: PinPrompt) -> None:
        """A signature key asked to decrypt: a SceauError (on a token, CKA_DECRYPT is false), never a crash."""
        from sceau.errors import SceauError

        entry = entry_named(token, "sign-rsa2048")
        key = entry.certificate.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        ct = key.encrypt(b"k" * 32, padding.PKCS1v15())
        if token.info.backend == "pkcs11":  # the key's CKA_DECRYPT is false on the token
            with pytest.raises(SceauError):
                token.decrypt_raw(entry, ct, RsaDecryptPadding.PKCS1V15, prompt=prompt)
        else:  # a PKCS#12 file carries no usage flags: software keys can do it
            assert token.decrypt_raw(entry, ct, RsaDecryptPadding.PKCS1V15, prompt=prompt) == b"k" * 32
