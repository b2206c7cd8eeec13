"""Challenge-nonce stores for the token validator: in memory (one web server) or Redis (several).

A store issues random nonces and accepts each one once, before it expires. `AuthTokenValidator`
takes any object with `issue()` and `consume(nonce)` (`NonceBackend`); `NonceStore` (in memory,
`sceau_rp.webeid`) is the default. `RedisNonceStore` serves platforms that run several web servers
behind a load balancer: the nonce issued by one server is consumed by whichever receives the token,
exactly once — `GETDEL` is atomic on the Redis server, so two validators racing on one nonce cannot
both win — and Redis expires it (`SET … NX PX`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any, Protocol

from sceau_rp.webeid import DEFAULT_NONCE_TTL_S, NONCE_BYTES, AuthTokenError

MAX_NONCE_LENGTH = 256  # a nonce we issued is 44 characters; longer ones are not ours
DEFAULT_PREFIX = "sceau:webeid-nonce:"


class NonceBackend(Protocol):
    """What the validator needs from a nonce store."""

    def issue(self) -> str:
        """A fresh random nonce (base64 of 32 bytes), valid once until it expires."""
        ...

    def consume(self, nonce: str) -> None:
        """Accept `nonce` once; raise AuthTokenError if unknown, already used or expired."""
        ...


class RedisClient(Protocol):
    """The two commands used (redis-py's `Redis` has them; so do most compatible clients)."""

    def set(self, name: str, value: str, *, nx: bool = ..., px: int | None = ...) -> Any: ...

    def getdel(self, name: str) -> Any: ...


class RedisNonceStore:
    """Nonces in Redis, shared by every web server of the platform (Redis ≥ 6.2 for GETDEL).

    Keys are `prefix + SHA-256(nonce)`: what a client sends back never becomes a key as such."""

    def __init__(
        self, client: RedisClient, *, ttl_s: float = DEFAULT_NONCE_TTL_S, prefix: str = DEFAULT_PREFIX
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.client = client
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisNonceStore:
        """A store on `redis://host:port/db` (needs the `redis` package: `pip install sceau[redis]`)."""
        try:
            import redis
        except ImportError:
            raise RuntimeError("RedisNonceStore needs the 'redis' package (pip install 'sceau[redis]').") from None
        return cls(redis.Redis.from_url(url, decode_responses=True), **options)

    def _key(self, nonce: str) -> str:
        return self.prefix + hashlib.sha256(nonce.encode("utf-8")).hexdigest()

    def issue(self) -> str:
        for _ in range(3):  # a collision of 256-bit random values does not happen; NX makes sure
            nonce = base64.b64encode(secrets.token_bytes(NONCE_BYTES)).decode()
            if self.client.set(self._key(nonce), "1", nx=True, px=self.ttl_ms):
                return nonce
        raise RuntimeError("could not store a new nonce in Redis")

    def consume(self, nonce: str) -> None:
        if not isinstance(nonce, str) or not nonce or len(nonce) > MAX_NONCE_LENGTH:
            raise AuthTokenError("nonce-unknown", "Challenge nonce unknown or already used.")
        # Redis drops the key at expiry: unknown, used and expired are the same answer here.
        if self.client.getdel(self._key(nonce)) is None:
            raise AuthTokenError("nonce-unknown", "Challenge nonce unknown, already used or expired.")
