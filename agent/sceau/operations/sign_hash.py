"""`sign-hash`: split signing — a digest in, the raw signature and the certificate out."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sceau.config import DEFAULT_LIMITS, Limits
from sceau.errors import BadRequest
from sceau.i18n import _
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.protocol.codes import Command, OperationKind, Role
from sceau.protocol.documents import DocumentInfo
from sceau.protocol.messages import arg_b64, arg_choice, arg_str, names
from sceau.tokens.base import SIGNING_DIGESTS, Digest, SignScheme, scheme_for


@dataclass(frozen=True)
class Params:
    digest: bytes
    algorithm: Digest
    scheme: SignScheme | None
    certificate: str | None
    document_name: str
    document_size: int


class SignHash(Operation):
    command: ClassVar[Command] = Command.SIGN_HASH
    arguments: ClassVar[frozenset[str] | None] = frozenset(
        {"hash", "hashAlgorithm", "scheme", "certificate", "documentName", "documentSize"}
    )
    kind: ClassVar[OperationKind | None] = OperationKind.SIGN

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Params:
        a = dict(args)
        alg = Digest(arg_choice(a, "hashAlgorithm", names(SIGNING_DIGESTS), default="sha256") or "sha256")
        digest = arg_b64(a, "hash", max_bytes=64, min_bytes=1)
        if len(digest) != alg.size:
            raise BadRequest(
                "'hash' must be a {alg} digest ({size} bytes).", params={"alg": alg.value, "size": alg.size}
            )
        scheme = arg_choice(a, "scheme", names(SignScheme))
        size = a.get("documentSize", 0)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise BadRequest("'documentSize' must be a non-negative integer.", params={})
        return Params(
            digest,
            alg,
            SignScheme(scheme) if scheme else None,
            arg_str(a, "certificate", required=False, max_len=64) or None,
            arg_str(a, "documentName", required=False, max_len=255) or "",
            size,
        )

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        entry = await ctx.select_certificate(Role.SIGN, params.certificate, OperationKind.SIGN)
        scheme = scheme_for(entry, params.scheme)
        if params.scheme is not None and scheme is not params.scheme:
            raise BadRequest(
                "Scheme {scheme} does not match the certificate's key.", params={"scheme": params.scheme.value}
            )
        # The page only knows a hash: show it (the platform should also send the document name).
        doc = DocumentInfo(
            params.document_name or "(empreinte)",
            params.document_size,
            params.digest.hex(),
            digest_algorithm=params.algorithm.value,
        )
        await ctx.consent(
            OperationKind.SIGN,
            documents=(doc,),
            certificate=entry,
            parameters=(
                _("Only a digest ({alg}) was sent by the site: Sceau cannot show the document.").format(
                    alg=params.algorithm.value
                ),
            ),
            names_from_page=True,
        )
        token = ctx.tokens.token_of(entry)
        signature = await ctx.blocking(
            lambda: token.sign_raw(
                entry, params.digest, scheme, params.algorithm, prehashed=True, prompt=ctx.pin_prompt()
            ),
            token,
        )
        return {
            "signature": base64.b64encode(signature).decode(),
            "scheme": scheme.value,
            "hashAlgorithm": params.algorithm.value,
            "certificate": entry.der_b64,
            "chain": list(entry.chain_b64),
        }


OPERATION = SignHash()
