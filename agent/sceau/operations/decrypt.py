"""`decrypt`: open a bid (CMS EnvelopedData / AuthEnvelopedData) with an encryption key on a token.

args:   {"document": {"transfer": "<id>"} | {"data": "<base64>", "name": "..."},
         "mode": "decrypt" (default) | "unwrap-key", "certificate": "<handle>" (optional),
         "name": "pli.p7m" (shown in the consent dialog)}
result: {"opened": true, "certificate": {...summary}, "recipients": [...], "algorithm": "aes-256-cbc",
         "plaintext": {transfer descriptor}, "signed": {...}|null, "zip": {...}|null}
        unwrap-key: {"key": "<base64>", "algorithm", "iv": "<base64>", "tagLength", "certificate"}
events: {"progress": bytes_done, "total": input_size} every 16 MiB while decrypting.

`decrypt_file` is the one engine behind the handler and `sceau decrypt`: header parse, recipient
match against every encryption certificate of every token, consent, key recovery on the token,
streaming decryption into an atomic output, then a look at the plaintext (inner signature, zip).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import importlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from sceau.config import DEFAULT_LIMITS, Limits
from sceau.crypto import armor, cms_decrypt, zipinfo
from sceau.crypto.recipients import (
    RecipientMatch,
    decryption_failed,
    describe_recipients,
    match_recipients,
    recover_key,
)
from sceau.errors import BadRequest, NotARecipient, NoToken, SceauError, UserCancelled
from sceau.i18n import _
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.operations.transfer import resolve_document
from sceau.protocol.codes import Command, OperationKind, Role
from sceau.protocol.documents import DocumentInfo
from sceau.protocol.messages import arg_choice, arg_str
from sceau.store.files import AtomicOutput

log = logging.getLogger(__name__)

MAX_INNER_VERIFY = 64 << 20  # the verifier holds the file in memory; bigger signed bids are reported only

UNWRAP_KEY_DETAIL = (
    "The site asks for the decryption key of this bid itself, not for the decrypted file. "
    "With this key, the site (or whoever receives it) can read the bid without your token. "
    "Accept only if your platform's procedure requires server-side opening."
)


@dataclass(frozen=True)
class DecryptJob:
    source: Path
    name: str
    size: int
    sha256: str
    output: Path | None = None  # None: a download transfer of the connection
    unwrap_key: bool = False
    certificate: str | None = None  # handle of the certificate to use
    extract_to: Path | None = None  # extract a zip plaintext into this new directory (CLI)
    # decrypt-to-file: asks the user for the output file after consent, before the PIN (see
    # operations.decrypt_to_file); the report then names the file, not its path.
    save_as: Callable[[], Awaitable[Path]] | None = None


def _pick(matches: list[RecipientMatch], handle: str | None) -> RecipientMatch:
    if handle is not None:
        matches = [m for m in matches if m.entry.handle == handle]
        if not matches:
            raise NotARecipient(_("The chosen certificate cannot open this file."))
    # Valid certificates first; when several remain (main and backup key on the same token) the
    # caller asks the user: the file's recipient order says nothing (DER sorts the SET).
    valid = [m for m in matches if m.entry.is_valid_at()]
    return (valid or matches)[0]


async def _find_match(ctx: OperationContext, env: cms_decrypt.Envelope, handle: str | None) -> RecipientMatch:
    if not await ctx.blocking(ctx.tokens.tokens):
        raise NoToken(_("No token found: insert your card or USB key."))
    entries = await ctx.blocking(lambda: ctx.tokens.entries(Role.ENCRYPT))
    matches = match_recipients(env.recipients, entries)
    if not matches:  # PKCS#12 files show their certificate only after the password
        entries = await ctx.blocking(lambda: ctx.tokens.entries(Role.ENCRYPT, prompt=ctx.pin_prompt()))
        matches = match_recipients(env.recipients, entries)
    if not matches:
        who = "; ".join(
            _("{issuer}, serial {serial}").format(issuer=d["issuer"], serial=d["serialNumber"])
            if "serialNumber" in d
            else _("key identifier {ski}").format(ski=d.get("subjectKeyIdentifier", "?"))
            for d in describe_recipients(env.recipients, 5)
        )
        raise NotARecipient(
            _("This file was not encrypted for any certificate on your tokens (recipients: {who}).").format(who=who)
        )
    if handle is None:
        valid = [m for m in matches if m.entry.is_valid_at()]
        if len({m.entry.handle for m in valid}) > 1:
            chosen = await ctx.choose_certificate(OperationKind.DECRYPT, [m.entry for m in valid])
            handle = chosen.handle
    return _pick(matches, handle)


async def _verify_inner(ctx: OperationContext, path: Path, size: int, name: str) -> dict[str, Any]:
    """Verify an inner SignedData with `sceau.formats.verify` (in memory, so only up to MAX_INNER_VERIFY)."""
    if size > MAX_INNER_VERIFY:
        return {
            "present": True,
            "verified": False,
            "message": _("The bid is signed; the signature was not verified (file too large)."),
        }
    try:
        verify_job = importlib.import_module("sceau.formats.verify_job")  # heavy (pyHanko): only when needed
        ltv = importlib.import_module("sceau.formats.ltv")

        anchors = ltv.load_anchors(ctx.config.trust_anchors)  # roots trusted, intermediates help build paths
        data = await ctx.blocking(path.read_bytes)
        # Attached CAdES: the verifier checks the signature against the document inside it — in the
        # bounded worker, like `verify` (a hostile inner signature must not stall the agent).
        outcome = await verify_job.verify_isolated(ctx.parse_pool(), data, name, anchors)
        return {"present": True, "verified": True, "valid": outcome.valid, "report": outcome.report}
    except ImportError:
        return {
            "present": True,
            "verified": False,
            "message": _("The bid is signed; the signature was not verified (no verifier available)."),
        }
    except SceauError as exc:
        return {"present": True, "verified": False, "message": exc.message}
    except Exception:  # a verifier bug must not lose the opened bid
        log.exception("inner signature verification failed")
        return {"present": True, "verified": False, "message": _("The signature could not be verified.")}


async def _inspect(ctx: OperationContext, path: Path, head: bytes, job: DecryptJob) -> dict[str, Any]:
    out: dict[str, Any] = {"signed": None, "zip": None}
    if zipinfo.is_zip(head):
        try:
            out["zip"] = await ctx.parse_pool().run(zipinfo.list_zip, path)  # bounded worker process
        except SceauError as exc:
            out["zip"] = {"error": exc.message}
        if job.extract_to is not None:
            target = job.extract_to
            out["extracted"] = await ctx.blocking(lambda: zipinfo.extract_zip(path, target))
    return out


async def decrypt_file(ctx: OperationContext, job: DecryptJob) -> JSON:
    """Open `job.source`; see the module docstring for the result."""
    loop = asyncio.get_running_loop()
    stream: BinaryIO = await ctx.blocking(lambda: open(job.source, "rb"))  # noqa: SIM115 - closed below
    try:

        def parse() -> cms_decrypt.Envelope:
            ber, armored = armor.open_bid(stream)  # PEM / S/MIME text is decoded on the fly
            return cms_decrypt.read_envelope(ber, None if armored else job.size)

        env = await ctx.blocking(parse)
        match = await _find_match(ctx, env, job.certificate)
        entry = match.entry
        kind = OperationKind.UNWRAP_KEY if job.unwrap_key else OperationKind.DECRYPT
        await ctx.consent(
            kind,
            documents=(DocumentInfo(job.name, job.size, job.sha256),),
            certificate=entry,
            detail=_(UNWRAP_KEY_DETAIL) if job.unwrap_key else "",
        )
        chosen = await job.save_as() if job.save_as is not None and not job.unwrap_key else None
        token = ctx.tokens.token_of(entry)
        key = await ctx.blocking(lambda: recover_key(token, match, ctx.pin_prompt()), token)
        base: JSON = {
            "certificate": entry.summary(),
            "recipients": describe_recipients(env.recipients),
            "recipientIndex": match.index,
            "algorithm": env.params.cipher.name,
            "type": env.kind,
        }
        if job.unwrap_key:
            if len(key) != env.params.cipher.key_size:
                raise decryption_failed()
            return {
                **base,
                "key": base64.b64encode(key).decode(),
                "iv": base64.b64encode(env.params.iv).decode(),
                "tagLength": env.params.tag_length,
            }
        store = None
        target = chosen or job.output
        if target is None:
            store = ctx.transfers()
            target = store.new_output_path()
        last = [0]
        stop = threading.Event()  # the request was cancelled (timeout, closed connection)

        async def _emit(event: JSON) -> None:
            await ctx.emit(event)

        def progress(done: int) -> None:
            if stop.is_set():  # abandon: AtomicOutput removes the partial plaintext
                raise UserCancelled(_("The operation was cancelled."))
            if done - last[0] >= 16 << 20:
                last[0] = done
                asyncio.run_coroutine_threadsafe(_emit({"progress": done, "total": job.size}), loop)

        digest = hashlib.sha256() if chosen is not None else None

        def work() -> cms_decrypt.DecryptResult:
            with AtomicOutput(target) as out:
                result = cms_decrypt.decrypt_content(env, key, out.file, progress=progress, digest=digest)
                out.commit()
            return result

        worker = asyncio.ensure_future(ctx.blocking(work))
        try:
            result = await asyncio.shield(worker)
        except asyncio.CancelledError:
            # Stop the worker, wait for it, and keep nothing: a cancelled request leaves no plaintext.
            stop.set()
            with contextlib.suppress(BaseException):
                await worker
            if chosen is None:  # a file the user chose may be one they had before: AtomicOutput kept it
                target.unlink(missing_ok=True)
            raise
        extra = await _inspect(ctx, target, result.head, job)
        if cms_decrypt.is_signed_data(result.head):
            extra["signed"] = await _verify_inner(ctx, target, result.size, job.name.removesuffix(".p7m"))
        report: JSON = {"opened": True, **base, "size": result.size, **extra}
        if store is not None:
            report["plaintext"] = await ctx.blocking(
                lambda: store.add_download(target, job.name.removesuffix(".p7m") or "document")
            )
        elif digest is not None:  # the page learns the name and the digest, not where the file is
            report["saved"] = {"name": target.name, "sha256": digest.hexdigest()}
        else:
            report["output"] = str(target)
        return report
    finally:
        await ctx.blocking(stream.close)


@dataclass(frozen=True)
class Params:
    document: Mapping[str, Any]
    unwrap_key: bool
    certificate: str | None
    name: str


class Decrypt(Operation):
    command: ClassVar[Command] = Command.DECRYPT
    arguments: ClassVar[frozenset[str] | None] = frozenset({"document", "name", "mode", "certificate"})
    kind: ClassVar[OperationKind | None] = OperationKind.DECRYPT
    kind_by_argument: ClassVar[tuple[str, Mapping[str, OperationKind]] | None] = (
        "mode",
        {"unwrap-key": OperationKind.UNWRAP_KEY},
    )

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Params:
        a = dict(args)
        doc = a.get("document")
        if not isinstance(doc, Mapping):
            raise BadRequest(_('\'document\' must be an object: {"transfer": id} or {"data": base64}.'))
        mode = arg_choice(a, "mode", {"decrypt", "unwrap-key"}, default="decrypt")
        return Params(
            doc,
            mode == "unwrap-key",
            arg_str(a, "certificate", required=False, max_len=64) or None,
            os.path.basename(arg_str(a, "name", required=False, max_len=255)),
        )

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        store, transfer = await resolve_document(ctx, params.document, params.name)
        try:
            job = DecryptJob(
                transfer.path,
                params.name or transfer.name,
                transfer.size,
                transfer.sha256,
                unwrap_key=params.unwrap_key,
                certificate=params.certificate,
            )
            return await decrypt_file(ctx, job)
        finally:
            store.release(transfer.id)


OPERATION = Decrypt()
