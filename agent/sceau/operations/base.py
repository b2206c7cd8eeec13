"""The interface of an operation handler."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from sceau.config import DEFAULT_LIMITS, Limits
from sceau.operations.context import OperationContext
from sceau.protocol.codes import Command, OperationKind

JSON = dict[str, Any]


# Arguments every command accepts: `lang`, the language of this request's dialogs (Web eID pages).
COMMON_ARGUMENTS = frozenset({"lang"})


class Operation(ABC):
    """Handles one command. `parse` validates arguments (raise BadRequest), `run` does the work.

    Handlers never turn exceptions into wire errors: they raise `sceau.errors.SceauError`
    subclasses and `protocol.session` maps them, in one place.
    """

    command: ClassVar[Command]
    # Whether the command touches a private key (consent + origin check happen before).
    uses_key: ClassVar[bool] = True
    # Operation class a site must have been granted (first-use permission); None: no grant needed.
    kind: ClassVar[OperationKind | None] = None
    # When one argument selects another class: (argument, {value: class}). This and `kind` are the
    # only statement of a command's permission: the agent checks it, the extension is generated from it.
    kind_by_argument: ClassVar[tuple[str, Mapping[str, OperationKind]] | None] = None
    # Extension-only (site-* management): refused on the WebSocket transport.
    internal: ClassVar[bool] = False
    # The request arguments this command understands; the dispatcher refuses any other with
    # BAD_REQUEST (a misspelt option must not be silently ignored). None: not checked.
    arguments: ClassVar[frozenset[str] | None] = None

    def accepts(self, names: Iterable[str]) -> str | None:
        """The first argument name this command does not understand, else None."""
        if self.arguments is None:
            return None
        unknown = sorted(set(names) - self.arguments - COMMON_ARGUMENTS)
        return unknown[0] if unknown else None

    def permission(self, args: Mapping[str, Any]) -> OperationKind | None:
        """The operation class this request (its validated `args`) needs the site to be allowed for."""
        if self.kind_by_argument is not None:
            name, table = self.kind_by_argument
            value = args.get(name)
            if isinstance(value, str) and value in table:
                return table[value]
        return self.kind

    @classmethod
    def permission_rule(cls) -> JSON | None:
        """The permission as data, for the extension (`extension/lib/protocol.json`)."""
        if cls.kind is None and cls.kind_by_argument is None:
            return None
        rule: JSON = {"kind": cls.kind.value if cls.kind else None}
        if cls.kind_by_argument is not None:
            name, table = cls.kind_by_argument
            rule["byArgument"] = {"name": name, "kinds": {v: k.value for v, k in sorted(table.items())}}
        return rule

    @abstractmethod
    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Any:
        """Validate and convert the request's `args` into the handler's parameter object, within the
        configured `limits` (the agent passes its own; the defaults serve tests and tools)."""

    @abstractmethod
    async def run(self, ctx: OperationContext, params: Any) -> JSON:
        """Do the operation and return the JSON `result`."""
