"""`upload-chunk` / `fetch-chunk`: the wire side of `sceau.store.transfers` (protocol in its docstring).

`resolve_document` is what handlers taking a document use: it accepts `{"transfer": "<id>"}`
(a completed upload) or `{"data": "<base64>", "name": "..."}` for small inline documents.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sceau.config import DEFAULT_LIMITS, Limits
from sceau.errors import BadRequest, TooLarge
from sceau.i18n import _
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.protocol.codes import Command
from sceau.protocol.constants import INLINE_MAX, UPLOAD_CHUNK_MAX
from sceau.protocol.messages import arg_b64, arg_str
from sceau.store.transfers import Transfer, TransferStore


def _index(args: Mapping[str, Any]) -> int:
    value = args.get("index")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 31:
        raise BadRequest(_("'index' must be a non-negative integer."))
    return value


def _size(args: Mapping[str, Any]) -> int | None:
    value = args.get("size")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 53:
        raise BadRequest(_("'size' must be a non-negative integer."))
    return value


async def resolve_document(
    ctx: OperationContext, doc: Mapping[str, Any], name: str = ""
) -> tuple[TransferStore, Transfer]:
    """The document a request refers to, as a file in the connection's store (caller releases it)."""
    store = ctx.transfers()
    if "transfer" in doc:
        tid = doc["transfer"]
        return store, await ctx.blocking(lambda: store.completed_upload(tid))
    if "data" in doc:
        if isinstance(doc["data"], str) and len(doc["data"]) > INLINE_MAX * 4 // 3 + 8:
            raise TooLarge(_("Inline documents are limited to 1 MiB: use upload-chunk."))
        data = arg_b64(dict(doc), "data", max_bytes=INLINE_MAX)
        label = name or arg_str(dict(doc), "name", required=False, max_len=255)
        return store, await ctx.blocking(lambda: store.add_inline(data, label))
    raise BadRequest(_("'document' must contain 'transfer' or 'data'."))


@dataclass(frozen=True)
class UploadParams:
    transfer: str | None
    index: int
    data: bytes
    final: bool
    name: str
    size: int | None = None  # total announced with chunk 0 (limits and disk space checked up front)


class UploadChunk(Operation):
    command: ClassVar[Command] = Command.UPLOAD_CHUNK
    arguments: ClassVar[frozenset[str] | None] = frozenset({"transfer", "index", "data", "final", "name", "size"})
    uses_key: ClassVar[bool] = False

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> UploadParams:
        a = dict(args)
        final = a.get("final", False)
        if not isinstance(final, bool):
            raise BadRequest(_("'final' must be true or false."))
        tid = arg_str(a, "transfer", required=False, max_len=64) or None
        return UploadParams(
            tid,
            _index(a),
            arg_b64(a, "data", max_bytes=UPLOAD_CHUNK_MAX),
            final,
            arg_str(a, "name", required=False, max_len=255),
            _size(a),
        )

    async def run(self, ctx: OperationContext, params: UploadParams) -> JSON:
        store = ctx.transfers()
        return await ctx.blocking(
            lambda: store.upload_chunk(
                params.transfer, params.index, params.data, params.final, params.name, params.size
            )
        )


@dataclass(frozen=True)
class FetchParams:
    transfer: str
    index: int


class FetchChunk(Operation):
    command: ClassVar[Command] = Command.FETCH_CHUNK
    arguments: ClassVar[frozenset[str] | None] = frozenset({"transfer", "index"})
    uses_key: ClassVar[bool] = False

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> FetchParams:
        a = dict(args)
        return FetchParams(arg_str(a, "transfer", max_len=64), _index(a))

    async def run(self, ctx: OperationContext, params: FetchParams) -> JSON:
        store = ctx.transfers()
        store.require(params.transfer, "download")
        data, final = await ctx.blocking(lambda: store.fetch_chunk(params.transfer, params.index))
        return {
            "transfer": params.transfer,
            "index": params.index,
            "final": final,
            "data": base64.b64encode(data).decode(),
            # Lets a page that assembles a Blob (never the whole result at once) check each piece.
            "sha256": hashlib.sha256(data).hexdigest(),
        }


OPERATIONS = (UploadChunk(), FetchChunk())
OPERATION = OPERATIONS[0]
