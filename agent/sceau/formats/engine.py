"""One entry point for every format: a document job in, the signed output (name + bytes) out.

Shared by the `sign-documents` handler and `sceau sign`.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sceau.errors import BadRequest
from sceau.formats import cades, naming, pades, pes, xades
from sceau.formats.kinds import Format
from sceau.formats.options import SignOptions
from sceau.formats.signer import TokenKey
from sceau.i18n import _


@dataclass
class DocumentJob:
    name: str
    data: bytes
    format: Format
    mime_type: str = ""
    pades: pades.PadesOptions = field(default_factory=pades.PadesOptions)
    pes: pes.PesOptions = field(default_factory=pes.PesOptions)
    existing_names: frozenset[str] = frozenset()  # names already next to the document (first free N)
    content_digest: bytes | None = None  # detached formats: the hash, when `data` was not loaded


def guess_mime(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def output_name(job: DocumentJob, exists: Callable[[str], bool], dated: datetime | None) -> str:
    """`NAME - Signature N.xml|.p7s` for detached formats; the document's own name otherwise."""
    if job.format.detached:
        return naming.first_free_signature_name(
            job.name, job.format.extension, lambda n: n in job.existing_names or exists(n), dated=dated
        )
    return naming.safe_name(job.name)


async def sign_job(job: DocumentJob, key: TokenKey, options: SignOptions) -> bytes:
    """The signature (detached formats) or the signed document (PAdES, PES)."""
    if job.format.detached:
        digest = job.content_digest if job.content_digest is not None else options.digest.digest(job.data)
        if job.format is Format.CADES:
            return await cades.sign_digest(digest, key, options)
        return await xades.sign_detached_digest(
            digest, naming.safe_name(job.name), job.mime_type or guess_mime(job.name), key, options
        )
    if job.format is Format.PADES:
        # The page's PDF is walked first in a bounded worker: a hostile structure (deep nesting, a
        # field tree reusing its children) is refused there, not by stalling the agent here.
        from sceau.formats.worker import shared_pool

        await shared_pool().run(pades.preflight, job.data)
        return await pades.sign_pdf(job.data, key, options, job.pades)
    if job.format is Format.PES:
        return await pes.sign_pes(job.data, key, options, job.pes)
    raise BadRequest(_("Unknown signature format."))  # pragma: no cover - enum is closed
