"""`verify` as a worker job: the file is parsed and validated in a bounded process (`worker.py`);
the agent and `sceau verify` get back the report as data, never a parser stuck on their thread."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sceau.formats.worker import WorkerPool

if TYPE_CHECKING:
    from sceau.trust.decide import TrustLists


@dataclass(frozen=True)
class VerifyOutcome:
    """What a verification produced, picklable: the report JSON (with its text), and for an attached
    CAdES signature the document it carries."""

    report: dict[str, Any]
    valid: bool
    content: bytes | None
    content_name: str


def verify_job(
    data: bytes,
    name: str,
    anchors_der: tuple[bytes, ...],
    online: bool,
    detached: bytes | None,
    detached_name: str,
    language: str | None,
    lists: TrustLists | None = None,
    lists_missing: bool = False,
) -> VerifyOutcome:
    """Runs in the worker process (the trusted lists travel as their validated bytes)."""
    from sceau.formats.verify import VerifyOptions, verify_bytes

    anchors = [x509.load_der_x509_certificate(der) for der in anchors_der]
    opts = VerifyOptions(anchors=anchors, online=online, detached=detached, detached_name=detached_name)
    opts.lists = lists
    report = asyncio.run(verify_bytes(data, name, opts))
    report.lists_missing = lists_missing
    return VerifyOutcome(report.to_json(language), report.valid, report.content, report.content_name)


async def verify_isolated(
    pool: WorkerPool,
    data: bytes,
    name: str,
    anchors: list[x509.Certificate],
    *,
    online: bool = False,
    detached: bytes | None = None,
    detached_name: str = "",
    language: str | None = None,
    lists: TrustLists | None = None,
    lists_missing: bool = False,
) -> VerifyOutcome:
    """Verify `data` in `pool`; a file that overruns the budget raises `InvalidInput`."""
    ders = tuple(c.public_bytes(Encoding.DER) for c in anchors)
    return await pool.run(verify_job, data, name, ders, online, detached, detached_name, language, lists, lists_missing)
