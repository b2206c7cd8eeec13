"""The one adapter from a token key to every signature format.

`TokenKey` wraps (Token, CertificateEntry, PinPrompt) and exposes `sign(data, digest)`, the
blocking `Token.sign_raw` run off the event loop. CAdES, XAdES and PES call it directly;
PAdES goes through `PyHankoTokenSigner`, a pyHanko `Signer` whose `async_sign_raw` is ours.
`BatchPinPrompt` keeps the PIN in memory for one batch so the user types it once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.signers.pdf_cms import Signer as _PyHankoSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from sceau.formats.ltv import build_chain
from sceau.tokens.base import CertificateEntry, Digest, PinPrompt, PinRequest, SignScheme, Token, scheme_for

# Runs a blocking call off the event loop (the agent passes its token executor).
Runner = Callable[[Callable[[], bytes]], Awaitable[bytes]]


async def _to_thread(fn: Callable[[], bytes]) -> bytes:
    return await asyncio.to_thread(fn)


class BatchPinPrompt:
    """A PinPrompt that asks once per token for the whole batch and remembers the answer in memory.

    Context-specific logins (CKA_ALWAYS_AUTHENTICATE: the card wants the PIN for each signature)
    call the prompt for every signature. The cached PIN answers them only if `may_reuse()` says so
    — the user is asked once per batch, the first time the card asks again; otherwise the PIN is
    typed for each signature. A wrong PIN drops the cache and asks the real prompt again.
    `forget()` zeroes the cached PIN buffers when the batch ends.
    """

    def __init__(self, prompt: PinPrompt, may_reuse: Callable[[], bool] | None = None) -> None:
        self._prompt = prompt
        self._may_reuse = may_reuse
        self._reuse: bool | None = None  # decided on the first context-specific request
        self._pins: dict[str, bytearray] = {}
        self.asked = 0  # how many times the real prompt was called (tests, journal)

    def __call__(self, request: PinRequest) -> str:
        key = request.token.token_id
        if request.context_specific and not request.retry and key in self._pins:
            if self._reuse is None:
                self._reuse = self._may_reuse() if self._may_reuse is not None else True
            if not self._reuse:
                self.asked += 1
                return self._prompt(request)
        if not request.retry and key in self._pins:
            return self._pins[key].decode()
        self._drop(key)
        self.asked += 1
        pin = self._prompt(request)
        self._pins[key] = bytearray(pin.encode())
        return pin

    @property
    def reused(self) -> bool | None:
        """Whether the user let the PIN be reused for context-specific logins (None: never asked)."""
        return self._reuse

    def _drop(self, key: str) -> None:
        buf = self._pins.pop(key, None)
        if buf is not None:
            buf[:] = bytes(len(buf))

    def forget(self) -> None:
        for key in list(self._pins):
            self._drop(key)


def ecdsa_raw_to_der(raw: bytes) -> bytes:
    """r ‖ s (token output) → DER Ecdsa-Sig-Value (CMS, PDF)."""
    half = len(raw) // 2
    return asym_utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


@dataclass
class TokenKey:
    """A signing key on a token, as the format builders see it."""

    token: Token
    entry: CertificateEntry
    prompt: PinPrompt
    runner: Runner = _to_thread
    scheme: SignScheme | None = None  # None: ECDSA for EC keys, PKCS#1 v1.5 for RSA
    chain: Sequence[x509.Certificate] = field(default=())  # extra certificates to embed (see completed())

    def __post_init__(self) -> None:
        self.scheme = scheme_for(self.entry, self.scheme)

    def completed(self, anchors: Sequence[x509.Certificate] = ()) -> TokenKey:
        """This key with the signer's issuers up to the root in `chain`, for embedding.

        Tokens often hold only the end-entity certificate, and a relying party that trusts
        only the root cannot build the path without the intermediate. The issuers are looked
        up in the certificates given by the caller, then the token's own CA certificates
        (`CertificateEntry.chain`), then the configured trust anchors (roots and
        intermediates). Certificates the caller gave explicitly are kept even off the path.
        """
        path = build_chain(self.certificate, [*self.chain, *self.entry.chain, *anchors])
        extra = [c for c in self.chain if c not in path and c != self.certificate]
        return replace(self, chain=(*path, *extra))

    @property
    def sign_scheme(self) -> SignScheme:
        assert self.scheme is not None
        return self.scheme

    @property
    def certificate(self) -> x509.Certificate:
        return self.entry.certificate

    @property
    def is_ec(self) -> bool:
        return self.entry.key_type == "ec"

    @property
    def ec_width(self) -> int:
        return (self.entry.key_size + 7) // 8

    def certificates_der(self) -> list[bytes]:
        """Signer certificate first, then the chain (no duplicates)."""
        out = [self.entry.der]
        for cert in self.chain:
            der = cert.public_bytes(Encoding.DER)
            if der not in out:
                out.append(der)
        return out

    async def sign_digest(self, digest_value: bytes, digest: Digest) -> bytes:
        """Sign a precomputed hash; ECDSA comes back raw r ‖ s, as tokens give it."""
        token, entry, scheme, prompt = self.token, self.entry, self.sign_scheme, self.prompt
        return await self.runner(
            lambda: token.sign_raw(entry, digest_value, scheme, digest, prehashed=True, prompt=prompt)
        )

    async def sign(self, data: bytes, digest: Digest) -> bytes:
        return await self.sign_digest(digest.digest(data), digest)

    def xml_signature_uri(self, digest: Digest) -> str:
        from sceau.formats.xmldsig import signature_method_uri

        return signature_method_uri(self.sign_scheme, digest)

    def cms_signature_algorithm(self, digest: Digest) -> algos.SignedDigestAlgorithm:
        """The CMS/PDF signatureAlgorithm for this key and hash."""
        if self.sign_scheme is SignScheme.ECDSA:
            return algos.SignedDigestAlgorithm({"algorithm": f"{digest.value}_ecdsa"})
        if self.sign_scheme is SignScheme.RSA_PSS:
            return algos.SignedDigestAlgorithm(
                {
                    "algorithm": "rsassa_pss",
                    "parameters": algos.RSASSAPSSParams(
                        {
                            "hash_algorithm": {"algorithm": digest.value},
                            "mask_gen_algorithm": {
                                "algorithm": "mgf1",
                                "parameters": {"algorithm": digest.value},
                            },
                            "salt_length": digest.size,  # what tokens (and our backends) use
                            "trailer_field": "trailer_field_bc",
                        }
                    ),
                }
            )
        return algos.SignedDigestAlgorithm({"algorithm": f"{digest.value}_rsa"})

    async def sign_cms(self, data: bytes, digest: Digest) -> bytes:
        """Signature bytes as CMS wants them (DER for ECDSA)."""
        raw = await self.sign(data, digest)
        return ecdsa_raw_to_der(raw) if self.is_ec else raw

    def placeholder_signature(self) -> bytes:
        """Bytes as long as the longest real signature (pyHanko's size estimate)."""
        if self.is_ec:
            width = self.ec_width
            return ecdsa_raw_to_der(b"\xff" * (2 * width)) + b"\x00" * 2
        return b"\x00" * ((self.entry.key_size + 7) // 8)


def to_asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


class PyHankoTokenSigner(_PyHankoSigner):
    """pyHanko's Signer with the token doing the one raw signature (PAdES)."""

    def __init__(self, key: TokenKey, digest: Digest, *, embed_roots: bool = True) -> None:
        registry = SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [to_asn1_cert(c) for c in key.chain]
        )
        super().__init__(
            prefer_pss=key.sign_scheme is SignScheme.RSA_PSS,
            embed_roots=embed_roots,
            signature_mechanism=key.cms_signature_algorithm(digest),
            signing_cert=to_asn1_cert(key.certificate),
            cert_registry=registry,
        )
        self.key = key
        self.digest = digest

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            return self.key.placeholder_signature()
        digest = Digest(digest_algorithm)
        return await self.key.sign_cms(data, digest)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
