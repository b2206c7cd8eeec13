"""`list-certificates`: certificates by role (DER base64 + summary). No PIN, no key use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sceau.config import DEFAULT_LIMITS, Limits
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.protocol.codes import Command, OperationKind, Role
from sceau.protocol.messages import arg_choice, names


@dataclass(frozen=True)
class Params:
    role: Role | None
    include_expired: bool


class ListCertificates(Operation):
    command: ClassVar[Command] = Command.LIST_CERTIFICATES
    arguments: ClassVar[frozenset[str] | None] = frozenset({"role", "includeExpired"})
    uses_key: ClassVar[bool] = False
    kind: ClassVar[OperationKind | None] = OperationKind.LIST
    # A site allowed to authenticate may list authentication certificates, etc.
    kind_by_argument: ClassVar[tuple[str, Mapping[str, OperationKind]] | None] = (
        "role",
        {Role.AUTH: OperationKind.AUTHENTICATE, Role.SIGN: OperationKind.SIGN, Role.ENCRYPT: OperationKind.DECRYPT},
    )

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Params:
        role = arg_choice(dict(args), "role", names(Role))
        include_expired = args.get("includeExpired", False) is True
        return Params(Role(role) if role else None, include_expired)

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        entries = await ctx.blocking(lambda: ctx.tokens.require_entries(params.role, prompt=ctx.ui.ask_pin))
        if not params.include_expired:
            entries = [e for e in entries if e.is_valid_at()] or entries
        entries = entries[: ctx.config.limits.max_certificates_listed]
        return {"certificates": [{**e.summary(), "certificate": e.der_b64} for e in entries]}


OPERATION = ListCertificates()
