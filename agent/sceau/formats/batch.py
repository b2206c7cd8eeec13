"""One engine for a batch of signatures, run by both the `sign-documents` handler and `sceau sign`
(the way `decrypt_file` serves the agent and the CLI): the certificate, one consent naming every
document, one PIN for the batch, the stop rules and one result per document.

A document-level failure is that document's result; a token- or user-level failure (PIN refused or
locked, token removed, consent withdrawn) stops the batch and is every remaining document's result.
Where each output goes is the caller's `publish` (inline or a transfer for the agent, a file for
the CLI); `on_result` sees each result as soon as it is known.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sceau.errors import NoToken, PinLocked, SceauError, TokenRemoved, UserCancelled, WrongPin
from sceau.formats.engine import DocumentJob, sign_job
from sceau.formats.kinds import Format
from sceau.formats.options import SignOptions
from sceau.formats.pades import PadesOptions
from sceau.formats.pes import PesOptions
from sceau.formats.signer import BatchPinPrompt, TokenKey
from sceau.i18n import _
from sceau.protocol.codes import OperationKind, Role
from sceau.protocol.documents import DocumentInfo
from sceau.protocol.messages import error_body
from sceau.tokens.base import CertificateEntry, PinPrompt, SignScheme, Token
from sceau.tokens.registry import TokenManager

log = logging.getLogger(__name__)
T = TypeVar("T")
JSON = dict[str, Any]

# Failures that concern the token or the user, not one document: the batch stops there.
BATCH_STOPPERS = (UserCancelled, WrongPin, PinLocked, TokenRemoved, NoToken)


@dataclass(frozen=True)
class BatchDocument:
    """One document of a batch: where its bytes are, what the user is shown, how to sign it."""

    name: str
    path: Path
    size: int
    sha256: str
    format: Format
    mime_type: str = ""
    pades: PadesOptions = field(default_factory=PadesOptions)
    pes: PesOptions = field(default_factory=PesOptions)
    existing_names: frozenset[str] = frozenset()  # names already next to the document (first free N)

    @property
    def info(self) -> DocumentInfo:
        return DocumentInfo(self.name, self.size, self.sha256)


@dataclass(frozen=True)
class DocumentResult:
    index: int
    document: BatchDocument
    output: JSON | None = None  # what `publish` returned for the signed output
    error: SceauError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> JSON:
        item: JSON = {"index": self.index, "name": self.document.name, "ok": self.ok, "format": self.document.format}
        if self.error is None:
            item["output"] = self.output
        else:
            item["error"] = error_body(self.error)
        return item


@dataclass(frozen=True)
class BatchOutcome:
    certificate: CertificateEntry
    results: list[DocumentResult]

    @property
    def signed(self) -> int:
        return sum(1 for r in self.results if r.ok)


class BatchHost(Protocol):
    """What the batch needs from whoever runs it (`sceau.operations.context.OperationContext`)."""

    @property
    def tokens(self) -> TokenManager: ...

    async def select_certificate(
        self, role: Role, handle: str | None, operation: OperationKind
    ) -> CertificateEntry: ...

    async def consent(
        self,
        operation: OperationKind,
        *,
        documents: Sequence[DocumentInfo] = (),
        certificate: CertificateEntry | None = None,
        detail: str = "",
        parameters: Sequence[str] = (),
        names_from_page: bool = False,
    ) -> None: ...

    async def blocking(self, fn: Callable[[], T], token: Token | None = None) -> T: ...

    def pin_prompt(self) -> PinPrompt: ...

    def may_reuse_pin(self, documents: int) -> bool:
        """Blocking (called from the token thread): may the batch PIN answer a card that asks for
        it for each signature (CKA_ALWAYS_AUTHENTICATE)?"""
        ...


# Stores one signed output and describes it (JSON); runs inside the document's own error handling.
Publish = Callable[[BatchDocument, DocumentJob, bytes], Awaitable[JSON]]
OnResult = Callable[[DocumentResult], Awaitable[None]]


async def sign_batch(
    host: BatchHost,
    documents: Sequence[BatchDocument],
    options: SignOptions,
    publish: Publish,
    *,
    certificate: str | None = None,
    scheme: SignScheme | None = None,
    on_result: OnResult | None = None,
    names_from_page: bool = False,
) -> BatchOutcome:
    """Sign `documents` with one certificate, one consent and one PIN; see the module docstring."""
    from sceau.formats.disclosure import signing_parameters

    entry = await host.select_certificate(Role.SIGN, certificate, OperationKind.SIGN)
    await host.consent(
        OperationKind.SIGN,
        documents=[d.info for d in documents],
        certificate=entry,
        parameters=signing_parameters(documents, options.level, options.tsa.url if options.tsa else ""),
        names_from_page=names_from_page,
    )
    token = host.tokens.token_of(entry)
    prompt = BatchPinPrompt(host.pin_prompt(), lambda: host.may_reuse_pin(len(documents)))

    async def runner(fn: Callable[[], bytes]) -> bytes:
        return await host.blocking(fn, token)

    try:
        key = TokenKey(token, entry, prompt, runner=runner, scheme=scheme)
        stop: SceauError | None = None
        try:
            await host.blocking(lambda: token.login(prompt), token)
        except SceauError as exc:
            stop = exc
        results: list[DocumentResult] = []
        for index, doc in enumerate(documents):
            if stop is None:
                result, stop = await _sign_one(host, index, doc, key, options, publish)
            else:
                result = DocumentResult(index, doc, error=stop)
            results.append(result)
            if on_result is not None:
                await on_result(result)
        return BatchOutcome(entry, results)
    finally:
        prompt.forget()  # the batch PIN lives exactly as long as the batch


async def _sign_one(
    host: BatchHost, index: int, doc: BatchDocument, key: TokenKey, options: SignOptions, publish: Publish
) -> tuple[DocumentResult, SceauError | None]:
    """One document's result, and the failure that stops the batch (if it is one)."""
    try:
        job = DocumentJob(doc.name, b"", doc.format, doc.mime_type, doc.pades, doc.pes, doc.existing_names)
        if doc.format.detached:  # only the hash is signed: never load the document
            job.content_digest = await host.blocking(lambda: options.digest.digest_file(doc.path))
        else:
            job.data = await host.blocking(doc.path.read_bytes)
        out = await sign_job(job, key, options)
        return DocumentResult(index, doc, output=await publish(doc, job, out)), None
    except BATCH_STOPPERS as exc:
        return DocumentResult(index, doc, error=exc), exc
    except SceauError as exc:
        return DocumentResult(index, doc, error=exc), None
    except Exception:  # one document must not sink the batch; details go to the log only
        log.exception("signing %s failed", doc.name)
        return DocumentResult(index, doc, error=SceauError(_("Unexpected error while signing this document."))), None
