"""`verify`: a signed file (and, for detached signatures, the document) → report JSON + text.

args:   {"document": {"data": "<base64>"} | {"transfer": "<id>"}, "name": "Acte.pdf - Signature 1.xml",
         "detached": {"data"|"transfer"} (optional), "detachedName": "Acte.pdf", "language": "fr"|"en"}
result: the report (`sceau.formats.report.VerifyReport.to_json`): valid, format, signatures[], text;
        for an attached CAdES signature, "content": {name, size, sha256, "transfer": download descriptor}.

No key is used. Verification from a page is always offline (the agent does not fetch URLs named
in a file a page sent); revocation data embedded in the file is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sceau.config import DEFAULT_LIMITS, Limits
from sceau.errors import BadRequest
from sceau.formats import naming
from sceau.i18n import _
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.operations.transfer import resolve_document
from sceau.protocol.codes import Command, OperationKind
from sceau.protocol.messages import arg_choice, arg_str
from sceau.store.transfers import Transfer, TransferStore


@dataclass(frozen=True)
class Params:
    document: Mapping[str, Any]
    name: str
    detached: Mapping[str, Any] | None
    detached_name: str
    language: str | None


class Verify(Operation):
    command: ClassVar[Command] = Command.VERIFY
    arguments: ClassVar[frozenset[str] | None] = frozenset({"document", "name", "detached", "detachedName", "language"})
    uses_key: ClassVar[bool] = False
    kind: ClassVar[OperationKind | None] = OperationKind.VERIFY  # every page request needs a grant

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Params:
        a = dict(args)
        doc = a.get("document")
        if not isinstance(doc, Mapping):
            raise BadRequest(_("'{what}' must be an object.").format(what="document"))
        detached = a.get("detached")
        if detached is not None and not isinstance(detached, Mapping):
            raise BadRequest(_("'{what}' must be an object.").format(what="detached"))
        name = arg_str(a, "name", required=False, max_len=255) or "document"
        detached_name = arg_str(a, "detachedName", required=False, max_len=255)
        try:
            name = naming.safe_name(name)
            detached_name = naming.safe_name(detached_name) if detached_name else ""
        except Exception:
            raise BadRequest(_("Invalid document name.")) from None
        return Params(doc, name, detached, detached_name, arg_choice(a, "language", {"fr", "en"}))

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        from sceau.formats.ltv import load_anchors  # heavy libraries load on first use
        from sceau.formats.verify_job import verify_isolated

        held: list[tuple[TransferStore, Transfer]] = []
        try:
            held.append(await resolve_document(ctx, params.document, params.name))
            data = await ctx.blocking(held[0][1].path.read_bytes)
            detached = None
            if params.detached is not None:
                held.append(await resolve_document(ctx, params.detached, params.detached_name))
                detached = await ctx.blocking(held[1][1].path.read_bytes)
            anchors = load_anchors(ctx.config.trust_anchors)  # roots trusted, intermediates help build paths
            # Parsed in a bounded worker process: a hostile file cannot stall the agent (DESIGN.md §4.9).
            from sceau.trust.settings import lists_for

            lists = await ctx.blocking(lambda: lists_for(ctx.config))  # parsed once, then cached
            missing = lists is None and ctx.config.trusted_lists
            outcome = await verify_isolated(
                ctx.parse_pool(),
                data,
                params.name,
                anchors,
                detached=detached,
                detached_name=params.detached_name,
                language=params.language,
                lists=lists,
                lists_missing=bool(missing),
            )
            result = outcome.report
            if outcome.content is not None and result["content"] is not None:
                # The document inside an attached signature, as a download transfer of the connection.
                content, name, store = outcome.content, outcome.content_name or "document", ctx.transfers()
                result["content"]["transfer"] = await ctx.blocking(lambda: store.add_download_data(content, name))
            return result
        finally:
            for store, transfer in held:
                store.release(transfer.id)


OPERATION = Verify()
