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

TOKEN_FORMAT = "web-eid:1.0"
# The project's releases; the token names the exact one (Web eID: "URL identifying the name and
# version of the application that issued the token"). The project's site, as the packages name it
# (Debian `Homepage`, the Firefox add-on id extension@sceau.fr).
PROJECT_URL = "https://sceau.fr"
APP_VERSION_URL = PROJECT_URL + "/releases/v{version}"

# JWS algorithm → (signature scheme, hash), as `sceau.tokens.base.SignScheme` / `Digest` values.
ALGORITHMS: dict[str, tuple[str, str]] = {
    "RS256": ("rsa-pkcs1v15", "sha256"),
    "RS384": ("rsa-pkcs1v15", "sha384"),
    "RS512": ("rsa-pkcs1v15", "sha512"),
    "PS256": ("rsa-pss", "sha256"),
    "PS384": ("rsa-pss", "sha384"),
    "PS512": ("rsa-pss", "sha512"),
    "ES256": ("ecdsa", "sha256"),
    "ES384": ("ecdsa", "sha384"),
    "ES512": ("ecdsa", "sha512"),
}


def default_algorithm(key_type: str, key_size: int) -> str:
    """The algorithm Web eID would pick: ES with the curve's hash for EC keys, RS256 for RSA."""
    if key_type == "ec":
        return {256: "ES256", 384: "ES384", 521: "ES512"}.get(key_size, "ES256")
    return "RS256"


def signed_fields(origin: str, nonce: str, hash_name: str) -> bytes:
    """hash(origin) ‖ hash(nonce): what the token's key signs (with the hash applied once more)."""
    h = str(hash_name)
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
