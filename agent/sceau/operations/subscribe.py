"""`subscribe`: the connection receives `token-inserted` / `token-removed` notifications."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from sceau.config import DEFAULT_LIMITS, Limits
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.protocol.codes import Command


class Subscribe(Operation):
    command: ClassVar[Command] = Command.SUBSCRIBE
    arguments: ClassVar[frozenset[str] | None] = frozenset()
    uses_key: ClassVar[bool] = False

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> None:
        return None

    async def run(self, ctx: OperationContext, params: None) -> JSON:
        # The transports push the agent's notifications to the sessions that carry this flag.
        ctx.connection.session.subscribed = True
        return {"subscribed": True}


OPERATION = Subscribe()
