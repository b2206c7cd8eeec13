"""Relying-party kit for platforms: validate Web eID `web-eid:1.0` authentication tokens made by Sceau.

Importable without the agent (no GUI, PC/SC or token libraries): `cryptography` only.
"""

from sceau_rp.nonces import NonceBackend, RedisNonceStore
from sceau_rp.webeid import (
    ALGORITHMS,
    TOKEN_FORMAT,
    AuthTokenError,
    AuthTokenValidator,
    NonceStore,
    ValidatedUser,
    is_authentication_certificate,
    site_origin_of,
)

__all__ = [
    "ALGORITHMS",
    "TOKEN_FORMAT",
    "AuthTokenError",
    "AuthTokenValidator",
    "NonceBackend",
    "NonceStore",
    "RedisNonceStore",
    "ValidatedUser",
    "is_authentication_certificate",
    "site_origin_of",
]
