"""`authenticate`: sign the site's challenge and return a Web eID `web-eid:1.0` token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sceau import __version__
from sceau.config import DEFAULT_LIMITS, Limits
from sceau.errors import BadRequest, UserCancelled
from sceau.i18n import _
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.protocol.auth_token import ALGORITHMS, APP_VERSION_URL, AuthToken, default_algorithm, signed_fields
from sceau.protocol.codes import Command, OperationKind, Role
from sceau.protocol.messages import arg_b64, arg_choice, arg_str
from sceau.tokens.base import CertificateEntry, Digest, SignScheme


@dataclass(frozen=True)
class Params:
    nonce: str  # signed as the string the server issued (Web eID hashes the nonce text)
    certificate: str | None
    algorithm: str | None


def build_token(token_sign: Any, entry: CertificateEntry, origin: str, nonce: str, algorithm: str | None) -> AuthToken:
    """Sign hash(origin) ‖ hash(nonce) with `token_sign(data, scheme, digest)` and wrap it."""
    alg = algorithm or default_algorithm(entry.key_type, entry.key_size)
    scheme_name, digest_name = ALGORITHMS[alg]
    scheme, digest = SignScheme(scheme_name), Digest(digest_name)
    if (scheme is SignScheme.ECDSA) != (entry.key_type == "ec"):
        raise BadRequest("Algorithm {alg} does not match the certificate's key.", params={"alg": alg})
    signature = token_sign(signed_fields(origin, nonce, digest), scheme, digest)
    return AuthToken(entry.der, alg, signature, APP_VERSION_URL.format(version=__version__))


def check_nonce(args: Mapping[str, Any], limits: Limits) -> str:
    """The challenge nonce: base64 of `limits.min_nonce_bytes` (≥ 256 bits of entropy by default) to
    `limits.max_nonce_bytes` bytes. Its decoded size is checked; its text is what gets signed."""
    a = dict(args)
    arg_b64(a, "nonce", max_bytes=limits.max_nonce_bytes, min_bytes=limits.min_nonce_bytes)
    return arg_str(a, "nonce", max_len=limits.max_nonce_bytes * 2 + 8)


class Authenticate(Operation):
    command: ClassVar[Command] = Command.AUTHENTICATE
    arguments: ClassVar[frozenset[str] | None] = frozenset({"nonce", "certificate", "algorithm"})
    kind: ClassVar[OperationKind | None] = OperationKind.AUTHENTICATE

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Params:
        a = dict(args)
        nonce = check_nonce(a, limits)
        cert = arg_str(a, "certificate", required=False, max_len=64) or None
        alg = arg_choice(a, "algorithm", frozenset(ALGORITHMS))
        return Params(nonce, cert, alg)

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        entry = await ctx.select_certificate(Role.AUTH, params.certificate, OperationKind.AUTHENTICATE)
        await _confirm(ctx, entry)
        token = ctx.tokens.token_of(entry)
        if ctx.config.pin_every_authentication:
            await ctx.blocking(token.logout, token)  # the signature below asks the PIN again

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


async def _confirm(ctx: OperationContext, entry: CertificateEntry) -> None:
    """Consent for authentication. Only when the configuration allows it (`remember_authentication`,
    off by default) may the user remember the site; a remembered sign-in still needs the token present
    (the certificate was just read from it) and shows a notice every time."""
    allowed = ctx.config.remember_authentication
    remembered = ctx.remembered if allowed else None
    if remembered is not None and remembered.is_remembered(ctx.origin, entry.fingerprint, ctx.sites):
        note = _("Sceau signed you in to {site} with {name} (remembered site).")
        ctx.ui.notify(note.format(site=ctx.origin, name=entry.subject_cn))
        return
    decision = await ctx.confirm(OperationKind.AUTHENTICATE, certificate=entry, can_remember=allowed)
    if not decision.approved:
        raise UserCancelled(_("Authentication was refused."))
    if decision.remember and remembered is not None:
        await ctx.blocking(lambda: remembered.remember(ctx.origin, entry.fingerprint))


OPERATION = Authenticate()
