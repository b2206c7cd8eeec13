"""Extension-only `site-grant` / `site-revoke` / `site-list`: the shared trusted-sites store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sceau.config import DEFAULT_LIMITS, Limits
from sceau.errors import BadRequest, Unsupported
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.protocol.codes import Command, OperationKind
from sceau.protocol.messages import arg_str
from sceau.protocol.origin import normalize_origin
from sceau.store.sites import TrustedSites


@dataclass(frozen=True)
class Params:
    origin: str
    operations: tuple[OperationKind, ...] | None


def _parse(args: Mapping[str, Any], *, need_origin: bool, dev_mode: bool = True) -> Params:
    a = dict(args)
    origin = arg_str(a, "origin", required=need_origin, max_len=255)
    if origin:
        origin = normalize_origin(origin, dev_mode=dev_mode)
    ops = a.get("operations")
    if ops is None:
        return Params(origin, None)
    if not isinstance(ops, list) or not ops or len(ops) > 10:
        raise BadRequest("'operations' must be a non-empty list.", params={})
    try:
        return Params(origin, tuple(OperationKind(o) for o in ops))
    except ValueError:
        raise BadRequest(
            "'operations' items must be among: {kinds}.", params={"kinds": ", ".join(k.value for k in OperationKind)}
        ) from None


def _sites(ctx: OperationContext) -> TrustedSites:
    if ctx.sites is None:
        raise Unsupported("This agent has no trusted-sites store.", params={})
    return ctx.sites


class SiteGrant(Operation):
    command: ClassVar[Command] = Command.SITE_GRANT
    uses_key: ClassVar[bool] = False
    internal: ClassVar[bool] = True

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Params:
        params = _parse(args, need_origin=True)
        if params.operations is None:
            raise BadRequest("Missing argument 'operations'.", params={})
        return params

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        sites = _sites(ctx)
        normalize_origin(params.origin, dev_mode=ctx.config.dev_mode)  # no http grants outside dev mode
        grants = await ctx.blocking(lambda: sites.grant(params.origin, params.operations or ()))
        return {"grants": [g.to_json() for g in grants]}


class SiteRevoke(Operation):
    command: ClassVar[Command] = Command.SITE_REVOKE
    uses_key: ClassVar[bool] = False
    internal: ClassVar[bool] = True

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Params:
        return _parse(args, need_origin=True)

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        sites = _sites(ctx)
        removed = await ctx.blocking(lambda: sites.revoke(params.origin, params.operations))
        remembered = ctx.remembered
        if remembered is not None:
            await ctx.blocking(lambda: remembered.prune(sites))
        return {"revoked": removed}


class SiteList(Operation):
    command: ClassVar[Command] = Command.SITE_LIST
    uses_key: ClassVar[bool] = False
    internal: ClassVar[bool] = True

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Params:
        return _parse(args, need_origin=False)

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        sites = _sites(ctx)
        grants = await ctx.blocking(sites.list)
        if params.origin:
            grants = [g for g in grants if g.origin == params.origin]
        return {"grants": [g.to_json() for g in grants]}


OPERATIONS = (SiteGrant(), SiteRevoke(), SiteList())
