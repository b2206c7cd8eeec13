"""A document as the user is shown it (consent) and as the journal records it: name, size, SHA-256."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocumentInfo:
    name: str
    size: int
    sha256_hex: str  # the document's SHA-256; for a page-supplied digest (sign-hash), that digest
    # Set when the page sent only a digest of this algorithm (sign-hash): `sha256_hex` is then that
    # digest, not one the agent computed, and `size` is what the page claimed (0: unknown).
    digest_algorithm: str = ""

    @property
    def short_digest(self) -> str:
        return self.sha256_hex[:16]
