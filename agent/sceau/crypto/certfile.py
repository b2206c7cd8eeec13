"""Certificate files (PEM or DER): a light module, so `sceau encrypt` starts without the token stack."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from sceau.errors import InvalidInput
from sceau.i18n import _


def load_certificate(path: Path) -> x509.Certificate:
    """Load a PEM or DER certificate file."""
    data = Path(path).read_bytes()
    try:
        return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError:
        raise InvalidInput(_("{path} is not a certificate (PEM or DER).").format(path=Path(path).name)) from None
