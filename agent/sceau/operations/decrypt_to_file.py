"""`decrypt-to-file`: open a bid into a file the user picks in the agent's save dialog.

args:   {"document": {"transfer": "<id>"} | {"data": "<base64>", "name": "..."},
         "certificate": "<handle>" (optional), "name": "pli.p7m" (shown in the consent dialog),
         "suggestedName": "offre.zip" (optional: the save dialog's proposal; default the bid's name
         without .p7m)}
result: the `decrypt` report without "plaintext": {"opened": true, "certificate", "recipients",
         "algorithm", "size", "signed", "zip", "saved": {"name": "<file name>", "sha256": "<hex>"}}
events: {"progress": bytes_done, "total": input_size} every 16 MiB.

So a multi-GB plaintext never crosses the browser: the page gets the report and the digest only,
not even the folder the user chose. Order: consent → save dialog → free-space check → PIN →
streaming decryption into an `AtomicOutput` next to the chosen file (renamed into place only when
the padding / tag check passed; cancel, a full disk or a pulled token leave no partial file).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sceau.config import DEFAULT_LIMITS, Limits
from sceau.errors import BadRequest, InvalidInput, TooLarge
from sceau.i18n import _
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.operations.decrypt import DecryptJob, decrypt_file
from sceau.operations.transfer import resolve_document
from sceau.protocol.codes import Command, OperationKind
from sceau.protocol.messages import arg_str

SPACE_MARGIN = 1 << 20  # file system metadata, the directory entry


def suggested_name(name: str) -> str:
    """The save dialog's proposal: the bid's base name without .p7m, never a path."""
    base = os.path.basename(name).removesuffix(".p7m").removesuffix(".p7e").strip(". ")
    return base or _("decrypted-bid")


def check_free_space(folder: Path, needed: int) -> None:
    """Refuse before starting when `folder` cannot hold `needed` bytes (a clear error, no partial file)."""
    if not folder.is_dir():
        raise InvalidInput(_("The chosen folder does not exist: {path}").format(path=folder.name))
    free = shutil.disk_usage(folder).free
    if free < needed + SPACE_MARGIN:
        raise TooLarge(
            _("Not enough free space in the chosen folder: {need} MB needed, {free} MB free.").format(
                need=(needed + SPACE_MARGIN) >> 20, free=free >> 20
            )
        )


@dataclass(frozen=True)
class Params:
    document: Mapping[str, Any]
    certificate: str | None
    name: str
    suggested: str


class DecryptToFile(Operation):
    command: ClassVar[Command] = Command.DECRYPT_TO_FILE
    arguments: ClassVar[frozenset[str] | None] = frozenset({"document", "certificate", "name", "suggestedName"})
    kind: ClassVar[OperationKind | None] = OperationKind.DECRYPT

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Params:
        a = dict(args)
        doc = a.get("document")
        if not isinstance(doc, Mapping):
            raise BadRequest(_('\'document\' must be an object: {"transfer": id} or {"data": base64}.'))
        return Params(
            doc,
            arg_str(a, "certificate", required=False, max_len=64) or None,
            os.path.basename(arg_str(a, "name", required=False, max_len=255)),
            os.path.basename(arg_str(a, "suggestedName", required=False, max_len=255)),
        )

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        store, transfer = await resolve_document(ctx, params.document, params.name)
        try:
            name = params.name or transfer.name
            proposal = suggested_name(params.suggested or name)

            async def save_as() -> Path:
                target = await ctx.ask_save_path(proposal, transfer.size)
                # The bid is at least as big as its plaintext: enough room for it is enough.
                await ctx.blocking(lambda: check_free_space(target.parent, transfer.size))
                return target

            job = DecryptJob(
                transfer.path, name, transfer.size, transfer.sha256, certificate=params.certificate, save_as=save_as
            )
            report = await decrypt_file(ctx, job)
            report.pop("output", None)
            return report
        finally:
            store.release(transfer.id)


OPERATION = DecryptToFile()
