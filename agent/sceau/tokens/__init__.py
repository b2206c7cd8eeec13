"""Token layer: one interface over PKCS#11 modules and PKCS#12 files."""

from sceau.tokens.base import (
    CertificateEntry,
    Digest,
    PinPrompt,
    PinRequest,
    PinStatus,
    RsaDecryptPadding,
    SignScheme,
    Token,
    TokenBackend,
    TokenInfo,
)

__all__ = [
    "CertificateEntry",
    "Digest",
    "PinPrompt",
    "PinRequest",
    "PinStatus",
    "RsaDecryptPadding",
    "SignScheme",
    "Token",
    "TokenBackend",
    "TokenInfo",
]
