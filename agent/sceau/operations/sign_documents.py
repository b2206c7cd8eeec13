"""`sign-documents`: a batch of documents, any mix of formats, one consent and one PIN.

args: {"documents": [{"name": "Acte.pdf", "data": "<base64>" | "transfer": "<id>", "mimeType": "...",
                      "format": "cades|xades|pades|pes", "options": {...}, "existingNames": [...]}],
       "format": "xades" (default for documents without one), "level": "B-B|B-T|B-LT",
       "hashAlgorithm": "sha256|sha384|sha512", "certificate": "<handle>", "tsaUrl": "http(s)://...",
       "naming": "standard|atexo", "scheme": "rsa-pss" (RSA keys only),
       "options": {"pades": {"reason", "location", "contact", "certify", "docmdp", "fieldName",
                             "visible": {"page", "box": [x1, y1, x2, y2], "text"}},
                   "pes": {"bordereaux": [ids], "whole": bool, "claimedRole", "city", "postalCode", "country"}}}
Each document's "options" override the batch options. Inline data is limited to 1 MiB (upload-chunk
beyond). Results stream as events `{"type": "document-signed", ...}` while the batch runs; the
final result lists them all. Outputs over 1 MiB come back as a download transfer descriptor.
A document-level failure is reported for that document; a token-level failure (PIN refused,
token removed) stops the batch and is reported for every remaining document.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from sceau.config import DEFAULT_LIMITS, Config, Limits
from sceau.errors import BadRequest, InvalidInput, TooLarge
from sceau.formats import naming
from sceau.formats.kinds import Format, Level
from sceau.i18n import _
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.operations.transfer import resolve_document
from sceau.protocol.codes import Command, OperationKind
from sceau.protocol.constants import INLINE_MAX
from sceau.protocol.messages import arg_choice, arg_str, names
from sceau.store.transfers import Transfer, TransferStore
from sceau.tokens.base import SIGNING_DIGESTS, Digest, SignScheme


@dataclass(frozen=True)
class DocSpec:
    source: Mapping[str, Any]
    name: str
    format: Format
    mime_type: str
    options: Mapping[str, Any]
    existing: frozenset[str]


@dataclass(frozen=True)
class Params:
    documents: tuple[DocSpec, ...]
    level: Level
    digest: Digest
    certificate: str | None
    tsa_url: str
    atexo_naming: bool
    scheme: SignScheme | None
    options: Mapping[str, Any]


def _obj(value: object, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest(_("'{what}' must be an object.").format(what=what))
    return value


def _doc_spec(raw: object, default_format: str | None, index: int) -> DocSpec:
    if not isinstance(raw, Mapping):
        raise BadRequest(_("Document {n} must be an object.").format(n=index + 1))
    d = dict(raw)
    try:
        name = naming.safe_name(arg_str(d, "name", max_len=255))
    except InvalidInput as exc:
        raise BadRequest(exc.message) from None
    fmt = arg_choice(d, "format", names(Format), default=default_format)
    if fmt is None:
        raise BadRequest(_("Document {n} has no format.").format(n=index + 1))
    if "data" not in d and "transfer" not in d:
        raise BadRequest(_("Document {n} needs 'data' (base64) or 'transfer'.").format(n=index + 1))
    existing = d.get("existingNames", [])
    if not isinstance(existing, list) or not all(isinstance(e, str) for e in existing) or len(existing) > 1000:
        raise BadRequest(_("'existingNames' must be a list of file names."))
    return DocSpec(
        d,
        name,
        Format(fmt),
        arg_str(d, "mimeType", required=False, max_len=128),
        _obj(d.get("options"), "options"),
        frozenset(existing),
    )


class SignDocuments(Operation):
    command: ClassVar[Command] = Command.SIGN_DOCUMENTS
    arguments: ClassVar[frozenset[str] | None] = frozenset(
        {"documents", "format", "level", "hashAlgorithm", "scheme", "naming", "certificate", "tsaUrl", "options"}
    )
    kind: ClassVar[OperationKind | None] = OperationKind.SIGN

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Params:
        a = dict(args)
        docs = a.get("documents")
        if not isinstance(docs, list) or not docs:
            raise BadRequest(_("'documents' must be a non-empty list."))
        default_format = arg_choice(a, "format", names(Format))
        specs = tuple(_doc_spec(d, default_format, i) for i, d in enumerate(docs))
        level = Level(arg_choice(a, "level", names(Level), default="B-B") or "B-B")
        digest = Digest(arg_choice(a, "hashAlgorithm", names(SIGNING_DIGESTS), default="sha256") or "sha256")
        scheme = arg_choice(a, "scheme", names(SignScheme))
        naming_kind = arg_choice(a, "naming", {"standard", "atexo"}, default="standard")
        return Params(
            documents=specs,
            level=level,
            digest=digest,
            certificate=arg_str(a, "certificate", required=False, max_len=64) or None,
            tsa_url=arg_str(a, "tsaUrl", required=False, max_len=2000),
            atexo_naming=naming_kind == "atexo",
            scheme=SignScheme(scheme) if scheme else None,
            options=_obj(a.get("options"), "options"),
        )

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        # The format libraries (pyHanko, lxml...) load on first use: the idle agent stays small.
        from sceau.formats.batch import BatchDocument, DocumentResult, sign_batch
        from sceau.formats.engine import DocumentJob, output_name
        from sceau.formats.ltv import load_anchors
        from sceau.formats.options import SignOptions
        from sceau.formats.optparse import pades_options, pes_options
        from sceau.formats.tsp import TsaClient

        limits = ctx.config.limits
        if len(params.documents) > limits.max_documents:
            raise TooLarge(_("Too many documents in one batch (at most {n}).").format(n=limits.max_documents))
        if params.tsa_url and not tsa_allowed(params.tsa_url, ctx.config):
            raise BadRequest(
                _(
                    "This site asks for the time-stamp server {host}, which is not allowed: "
                    "your administrator can add it to tsa_allowed_urls."
                ).format(host=params.tsa_url[:120])
            )
        tsa_url = params.tsa_url or ctx.config.tsa_url
        if params.level.timestamped and not tsa_url:
            raise BadRequest(
                _("Level {level} needs a time-stamp server: set tsa_url or send tsaUrl.").format(
                    level=params.level.value
                )
            )
        options = SignOptions(
            level=params.level,
            digest=params.digest,
            tsa=TsaClient(tsa_url) if tsa_url else None,
            trust_anchors=load_anchors(ctx.config.trust_anchors),  # roots + intermediates: see SignOptions
        )
        # Per-document options parse before anything is shown to the user.
        opts = [
            (pades_options(params.options, d.options), pes_options(params.options, d.options)) for d in params.documents
        ]
        resolved: list[tuple[TransferStore, Transfer]] = []
        try:
            for spec in params.documents:
                resolved.append(await resolve_document(ctx, spec.source, spec.name))
            sizes = [t.size for _s, t in resolved]
            for spec, size in zip(params.documents, sizes, strict=True):
                if size > limits.max_document_bytes:
                    raise TooLarge(_("{name} is larger than allowed.").format(name=spec.name))
            if sum(sizes) > limits.max_total_bytes:
                raise TooLarge(_("The documents are larger than allowed in total."))
            documents = [
                BatchDocument(s.name, t.path, t.size, t.sha256, s.format, s.mime_type, pades, pes, s.existing)
                for s, (_st, t), (pades, pes) in zip(params.documents, resolved, opts, strict=True)
            ]
            dated = datetime.now(UTC) if params.atexo_naming else None

            async def publish(doc: BatchDocument, job: DocumentJob, out: bytes) -> JSON:
                return await _output(ctx, output_name(job, lambda _n: False, dated), out)

            async def report(result: DocumentResult) -> None:
                await ctx.emit({"type": "document-signed", **result.to_json()})

            outcome = await sign_batch(
                ctx,
                documents,
                options,
                publish,
                certificate=params.certificate,
                scheme=params.scheme,
                on_result=report,
                names_from_page=True,
            )
            return {
                "results": [r.to_json() for r in outcome.results],
                "signed": outcome.signed,
                "failed": len(outcome.results) - outcome.signed,
                "level": params.level.value,
                "certificate": outcome.certificate.summary(),
            }
        finally:
            for store, transfer in resolved:
                store.release(transfer.id)


def _canonical_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


def tsa_allowed(url: str, config: Config) -> bool:
    """A page-supplied TSA URL is used only when the configuration names it (tsa_url or the list)."""
    allowed = {_canonical_url(u) for u in (config.tsa_url, *config.tsa_allowed_urls) if u}
    return _canonical_url(url) in allowed


async def _output(ctx: OperationContext, name: str, out: bytes) -> JSON:
    """A signed output for the page: inline up to INLINE_MAX, else a download transfer."""
    digest = hashlib.sha256(out).hexdigest()
    output: JSON = {"name": name, "size": len(out), "sha256": digest}
    if len(out) <= INLINE_MAX:
        output["data"] = base64.b64encode(out).decode()
        return output
    store = ctx.transfers()
    output["transfer"] = await ctx.blocking(lambda: store.add_download_data(out, name, digest))
    return output


OPERATION = SignDocuments()
