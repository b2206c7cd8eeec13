"""A document as the user is shown it (consent) and as the journal records it: name, size, SHA-256."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocumentInfo:
    name: str
    size: int
    sha256_hex: str

    @property
    def short_digest(self) -> str:
        return self.sha256_hex[:16]
