"""Web eID `web-eid:1.0` authentication tokens (no I/O).

Signed data, as the Web eID specification and its validators define it: the token signs
hash(origin) ‖ hash(nonce) — the origin and the challenge nonce as UTF-8 strings, hashed with
the algorithm's hash — with the JWS algorithm named in `algorithm` (which hashes that
concatenation again). ECDSA signatures are raw r ‖ s; everything is standard base64.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from sceau.tokens.base import Digest, SignScheme

TOKEN_FORMAT = "web-eid:1.0"
APP_VERSION_URL = "https://sceau.example/releases/v{version}"

ALGORITHMS: dict[str, tuple[SignScheme, Digest]] = {
    "RS256": (SignScheme.RSA_PKCS1V15, Digest.SHA256),
    "RS384": (SignScheme.RSA_PKCS1V15, Digest.SHA384),
    "RS512": (SignScheme.RSA_PKCS1V15, Digest.SHA512),
    "PS256": (SignScheme.RSA_PSS, Digest.SHA256),
    "PS384": (SignScheme.RSA_PSS, Digest.SHA384),
    "PS512": (SignScheme.RSA_PSS, Digest.SHA512),
    "ES256": (SignScheme.ECDSA, Digest.SHA256),
    "ES384": (SignScheme.ECDSA, Digest.SHA384),
    "ES512": (SignScheme.ECDSA, Digest.SHA512),
}


def default_algorithm(key_type: str, key_size: int) -> str:
    """The algorithm Web eID would pick: ES with the curve's hash for EC keys, RS256 for RSA."""
    if key_type == "ec":
        return {256: "ES256", 384: "ES384", 521: "ES512"}.get(key_size, "ES256")
    return "RS256"


def signed_fields(origin: str, nonce: str, digest: Digest) -> bytes:
    """hash(origin) ‖ hash(nonce): what the token's key signs (with `digest` applied once more)."""
    h = digest.value
    return hashlib.new(h, origin.encode("utf-8")).digest() + hashlib.new(h, nonce.encode("utf-8")).digest()


@dataclass(frozen=True)
class AuthToken:
    unverified_certificate: bytes  # DER
    algorithm: str
    signature: bytes
    app_version: str
    format: str = TOKEN_FORMAT

    def to_json(self) -> dict[str, str]:
        return {
            "unverifiedCertificate": base64.b64encode(self.unverified_certificate).decode(),
            "algorithm": self.algorithm,
            "signature": base64.b64encode(self.signature).decode(),
            "format": self.format,
            "appVersion": self.app_version,
        }
