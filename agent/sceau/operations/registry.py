"""Command name → handler. Modules register themselves; `default_registry` lists them all."""

from __future__ import annotations

import importlib

from sceau.errors import Unsupported
from sceau.i18n import _
from sceau.operations.base import Operation
from sceau.protocol.codes import Command

# Handler modules; each defines `OPERATION` (or `OPERATIONS`, a tuple). Order does not matter.
HANDLER_MODULES: tuple[str, ...] = (
    "sceau.operations.hello",
    "sceau.operations.list_certificates",
    "sceau.operations.authenticate",
    "sceau.operations.sign_hash",
    "sceau.operations.sign_documents",
    "sceau.operations.verify",
    "sceau.operations.encrypt",
    "sceau.operations.decrypt",
    "sceau.operations.decrypt_to_file",
    "sceau.operations.transfer",
    "sceau.operations.sites",
    "sceau.operations.subscribe",
    "sceau.operations.sign_digests",
)


class Registry:
    def __init__(self) -> None:
        self._ops: dict[Command, Operation] = {}

    def register(self, op: Operation) -> None:
        if op.command in self._ops:
            raise ValueError(f"duplicate handler for {op.command}")
        self._ops[op.command] = op

    def get(self, name: str) -> Operation:
        try:
            return self._ops[Command(name)]
        except (ValueError, KeyError):
            raise Unsupported(_("Unknown command: {name}").format(name=name[:40])) from None

    def commands(self) -> list[str]:
        return sorted(c.value for c in self._ops)


def default_registry() -> Registry:
    """A registry with every handler module that is present in this build."""
    reg = Registry()
    for name in HANDLER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # handler not shipped in this build
                continue
            raise
        for op in getattr(module, "OPERATIONS", None) or (module.OPERATION,):
            reg.register(op)
    return reg
