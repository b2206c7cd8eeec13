"""`hello`: versions and capabilities; needs no grant, touches no key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from sceau import __version__
from sceau.config import DEFAULT_LIMITS, Limits
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.protocol.codes import PROTOCOL_VERSION, Command


class Hello(Operation):
    command: ClassVar[Command] = Command.HELLO
    arguments: ClassVar[frozenset[str] | None] = frozenset()
    uses_key: ClassVar[bool] = False

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> None:
        return None

    async def run(self, ctx: OperationContext, params: None) -> JSON:
        return {
            "agent": "sceau",
            "version": __version__,
            "protocol": PROTOCOL_VERSION,
            "commands": list(ctx.commands),
            "devMode": ctx.config.dev_mode,
            "limits": {
                "maxMessageBytes": ctx.config.limits.max_message_bytes,
                "maxDocuments": ctx.config.limits.max_documents,
                "maxDocumentBytes": ctx.config.limits.max_document_bytes,
            },
        }


OPERATION = Hello()
