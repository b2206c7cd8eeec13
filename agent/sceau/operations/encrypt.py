"""`encrypt`: a company's bid encrypted to the buyer's certificates (main key + backup key).

args:   {"document": {"transfer": "<id>"} | {"data": "<base64>"}, "name": "offre.zip",
         "recipients": ["<base64 DER or PEM certificate>", ...],
         "cipher": "aes-256-cbc" (default) | "aes-256-gcm" | "aes-128-cbc" | "aes-128-gcm",
         "rsaPadding": "pkcs1v15" (default) | "oaep-sha1" | "oaep-sha256"}
result: {"ciphertext": {transfer descriptor of the .p7m}, "algorithm", "recipients": [certificate summaries]}

No private key is used, so there is no consent dialog; recipients are checked (validity, key usage).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography import x509

from sceau.config import DEFAULT_LIMITS, Limits
from sceau.crypto.cms_encrypt import ENCRYPT_CIPHERS, MAX_RECIPIENTS, RSA_PADDINGS, EncryptOptions, encrypt_stream
from sceau.errors import BadRequest, InvalidInput
from sceau.i18n import _
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.operations.transfer import resolve_document
from sceau.protocol.codes import Command, OperationKind
from sceau.protocol.messages import arg_choice, arg_str
from sceau.store.files import AtomicOutput
from sceau.tokens.base import CertificateEntry, TokenInfo

MAX_CERT_BYTES = 16 * 1024


def load_certificate_text(value: object) -> x509.Certificate:
    """A recipient certificate given as PEM text or base64 DER."""
    if not isinstance(value, str) or len(value) > MAX_CERT_BYTES * 2:
        raise BadRequest(_("Each recipient must be a certificate (PEM or base64 DER)."))
    try:
        if "-----BEGIN" in value:
            return x509.load_pem_x509_certificate(value.encode())
        return x509.load_der_x509_certificate(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error):
        raise InvalidInput(_("A recipient certificate could not be read.")) from None


def certificate_summary(cert: x509.Certificate) -> dict[str, object]:
    info = TokenInfo(token_id="", label="", backend="")
    return CertificateEntry(info, "", "", cert).summary()


@dataclass(frozen=True)
class Params:
    document: Mapping[str, Any]
    recipients: Sequence[x509.Certificate]
    options: EncryptOptions
    name: str


class Encrypt(Operation):
    command: ClassVar[Command] = Command.ENCRYPT
    arguments: ClassVar[frozenset[str] | None] = frozenset({"document", "name", "recipients", "cipher", "rsaPadding"})
    kind: ClassVar[OperationKind | None] = OperationKind.ENCRYPT
    uses_key: ClassVar[bool] = False

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Params:
        a = dict(args)
        doc = a.get("document")
        if not isinstance(doc, Mapping):
            raise BadRequest(_('\'document\' must be an object: {"transfer": id} or {"data": base64}.'))
        recips = a.get("recipients")
        if not isinstance(recips, list) or not recips or len(recips) > MAX_RECIPIENTS:
            raise BadRequest(_("'recipients' must be a non-empty list of certificates."))
        certs = [load_certificate_text(r) for r in recips]
        cipher = arg_choice(a, "cipher", set(ENCRYPT_CIPHERS), default="aes-256-cbc") or "aes-256-cbc"
        pad = arg_choice(a, "rsaPadding", set(RSA_PADDINGS), default="pkcs1v15") or "pkcs1v15"
        return Params(
            doc, certs, EncryptOptions(cipher, pad), os.path.basename(arg_str(a, "name", required=False, max_len=255))
        )

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        store, transfer = await resolve_document(ctx, params.document, params.name)
        try:
            target = store.new_output_path()

            def work() -> JSON:
                with open(transfer.path, "rb") as src, AtomicOutput(target) as out:
                    result = encrypt_stream(
                        src, out.file, params.recipients, size=transfer.size, options=params.options
                    )
                    out.commit()
                name = (params.name or transfer.name) + ".p7m"
                return {
                    "ciphertext": store.add_download(target, name),
                    "algorithm": result.algorithm,
                    "recipients": [certificate_summary(c) for c in params.recipients],
                }

            return await ctx.blocking(work)
        finally:
            store.release(transfer.id)


OPERATION = Encrypt()
