"""`authenticate`: sign the site's challenge and return a Web eID `web-eid:1.0` token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sceau import __version__
from sceau.errors import BadRequest, UserCancelled
from sceau.i18n import _
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.protocol.auth_token import ALGORITHMS, APP_VERSION_URL, AuthToken, default_algorithm, signed_fields
from sceau.protocol.codes import Command, OperationKind, Role
from sceau.protocol.messages import arg_b64, arg_choice, arg_str
from sceau.tokens.base import CertificateEntry, SignScheme
from sceau.ui.api import ConsentRequest, UserInterface

MIN_NONCE_BYTES = 32


@dataclass(frozen=True)
class Params:
    nonce: str  # signed as the string the server issued (Web eID hashes the nonce text)
    certificate: str | None
    algorithm: str | None


def build_token(token_sign: Any, entry: CertificateEntry, origin: str, nonce: str, algorithm: str | None) -> AuthToken:
    """Sign hash(origin) ‖ hash(nonce) with `token_sign(data, scheme, digest)` and wrap it."""
    alg = algorithm or default_algorithm(entry.key_type, entry.key_size)
    scheme, digest = ALGORITHMS[alg]
    if (scheme is SignScheme.ECDSA) != (entry.key_type == "ec"):
        raise BadRequest(f"Algorithm {alg} does not match the certificate's key.")
    signature = token_sign(signed_fields(origin, nonce, digest), scheme, digest)
    return AuthToken(entry.der, alg, signature, APP_VERSION_URL.format(version=__version__))


class Authenticate(Operation):
    command: ClassVar[Command] = Command.AUTHENTICATE
    kind: ClassVar[OperationKind | None] = OperationKind.AUTHENTICATE

    def parse(self, args: Mapping[str, Any]) -> Params:
        a = dict(args)
        # The nonce must carry ≥ 256 bits of entropy: check its decoded size, sign its text.
        arg_b64(a, "nonce", max_bytes=1024, min_bytes=MIN_NONCE_BYTES)
        nonce = arg_str(a, "nonce", max_len=2048)
        cert = arg_str(a, "certificate", required=False, max_len=64) or None
        alg = arg_choice(a, "algorithm", frozenset(ALGORITHMS))
        return Params(nonce, cert, alg)

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        entry = await ctx.select_certificate(Role.AUTH, params.certificate, OperationKind.AUTHENTICATE)
        await _confirm(ctx.ui, ctx, entry)
        token = ctx.tokens.token_of(entry)

        def sign() -> AuthToken:
            return build_token(
                lambda data, scheme, digest: token.sign_raw(
                    entry, data, scheme, digest, prehashed=False, prompt=ctx.pin_prompt()
                ),
                entry,
                ctx.origin,
                params.nonce,
                params.algorithm,
            )

        auth = await ctx.blocking(sign, token)
        return auth.to_json()


async def _confirm(ui: UserInterface, ctx: OperationContext, entry: CertificateEntry) -> None:
    """Consent for authentication; the user may remember the site (kept while the site's grant lasts)."""
    agent = ctx.extras.get("agent")
    remembered = getattr(agent, "remembered", None)
    sites = getattr(agent, "sites", None)
    if remembered is not None and remembered.is_remembered(ctx.origin, entry.fingerprint, sites):
        return
    request = ConsentRequest(ctx.origin, OperationKind.AUTHENTICATE, certificate=entry, can_remember=True)
    decision = await ctx.confirm(request)
    if not decision.approved:
        raise UserCancelled(_("Authentication was refused."))
    if decision.remember and remembered is not None:
        await ctx.blocking(lambda: remembered.remember(ctx.origin, entry.fingerprint))


OPERATION = Authenticate()
