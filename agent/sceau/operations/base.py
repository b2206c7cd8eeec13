"""The interface of an operation handler."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from sceau.operations.context import OperationContext
from sceau.protocol.codes import Command
from sceau.ui.api import OperationKind

JSON = dict[str, Any]


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
    # Extension-only (site-* management): refused on the WebSocket transport.
    internal: ClassVar[bool] = False

    def permission(self, params: Any) -> OperationKind | None:
        """The operation class this request needs the site to be allowed for."""
        return self.kind

    @abstractmethod
    def parse(self, args: Mapping[str, Any]) -> Any:
        """Validate and convert the request's `args` into the handler's parameter object."""

    @abstractmethod
    async def run(self, ctx: OperationContext, params: Any) -> JSON:
        """Do the operation and return the JSON `result`."""
