"""Append-only audit journal: one JSON object per line in the data dir, fsync'd per record.

What is recorded: time, origin, operation, document names/sizes/SHA-256, certificate fingerprint and
holder, result. What never is: PINs, passwords, document content — the API takes only those
structured fields, so there is no free-form place a secret could slip into.

Several threads and processes (agent, CLI) may append at once: each record is one `write` on an
O_APPEND descriptor under an advisory lock, and rotation happens under the same lock. A process
killed mid-write can leave a torn last line: the next writer starts a fresh line and readers skip
lines that do not parse.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sceau.config import Config
from sceau.protocol.codes import OperationKind
from sceau.protocol.documents import DocumentInfo
from sceau.store.files import exclusive_lock
from sceau.tokens.base import CertificateEntry

FILE_NAME = "journal.jsonl"
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_KEEP = 5
RESULT_OK = "ok"
_MAX_TEXT = 300  # names and messages are truncated: the journal must stay small and readable


class Described(Protocol):
    """What a consent showed (`sceau.ui.api.ConsentRequest` is one): the journal records the same."""

    @property
    def origin(self) -> str: ...
    @property
    def operation(self) -> OperationKind: ...
    @property
    def documents(self) -> Sequence[DocumentInfo]: ...
    @property
    def certificate(self) -> CertificateEntry | None: ...


def _document_json(d: DocumentInfo) -> dict[str, Any]:
    """A document as journalled; a page-supplied digest (sign-hash) is named as such, not as a
    SHA-256 of a document of size 0."""
    if d.digest_algorithm:
        return {"name": d.name, "size": d.size or None, "digest": d.sha256_hex, "digestAlgorithm": d.digest_algorithm}
    return {"name": d.name, "size": d.size, "sha256": d.sha256_hex}


def _document_from_json(d: dict[str, Any]) -> DocumentInfo:
    if "digestAlgorithm" in d:
        return DocumentInfo(str(d["name"]), int(d.get("size") or 0), str(d["digest"]), str(d["digestAlgorithm"]))
    return DocumentInfo(name=str(d["name"]), size=int(d["size"]), sha256_hex=str(d["sha256"]))


@dataclass(frozen=True)
class JournalRecord:
    """One line of the journal."""

    time: datetime
    origin: str
    operation: str
    result: str  # "ok" or a wire error code (USER_CANCELLED, TOKEN_REMOVED...)
    documents: tuple[DocumentInfo, ...] = ()
    certificate_fingerprint: str = ""  # SHA-256 of the DER certificate, hex
    certificate_subject: str = ""
    detail: str = ""  # a short plain-language note (never a PIN, never content)
    duration_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(timespec="milliseconds"),
            "origin": self.origin,
            "operation": self.operation,
            "result": self.result,
            "documents": [_document_json(d) for d in self.documents],
            "certificate": {
                "fingerprintSha256": self.certificate_fingerprint,
                "subject": self.certificate_subject,
            },
            "detail": self.detail,
            "durationMs": self.duration_ms,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JournalRecord:
        """Parse one record; raises ValueError/KeyError/TypeError on a malformed one."""
        cert = data.get("certificate") or {}
        docs = tuple(_document_from_json(d) for d in data.get("documents") or ())
        when = datetime.fromisoformat(str(data["time"]))
        return cls(
            time=when if when.tzinfo else when.replace(tzinfo=UTC),
            origin=str(data["origin"]),
            operation=str(data["operation"]),
            result=str(data["result"]),
            documents=docs,
            certificate_fingerprint=str(cert.get("fingerprintSha256", "")),
            certificate_subject=str(cert.get("subject", "")),
            detail=str(data.get("detail", "")),
            duration_ms=int(data.get("durationMs", 0)),
        )

    def matches(self, text: str) -> bool:
        """Case-insensitive substring filter over the visible fields (viewer search box)."""
        needle = text.strip().lower()
        if not needle:
            return True
        hay = [self.origin, self.operation, self.result, self.certificate_subject, self.detail]
        hay += [d.name for d in self.documents] + [d.sha256_hex for d in self.documents]
        return any(needle in h.lower() for h in hay)


def _clean(text: str) -> str:
    if text.isprintable():  # the usual case, without a per-character pass on the agent's event loop
        return text[:_MAX_TEXT]
    return "".join(ch if ch.isprintable() else " " for ch in text)[:_MAX_TEXT]


@dataclass
class Journal:
    """The journal of one user. `record` is safe from any thread or process."""

    data_dir: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    keep: int = DEFAULT_KEEP  # rotated files kept: journal.1.jsonl (newest) .. journal.<keep>.jsonl
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_config(cls, config: Config) -> Journal:
        """The user's journal with the configured rotation (`journal_max_bytes`, `journal_keep`)."""
        return cls(config.data_path(), max_bytes=config.journal_max_bytes, keep=config.journal_keep)

    @property
    def path(self) -> Path:
        return Path(self.data_dir) / FILE_NAME

    def rotated_path(self, index: int) -> Path:
        return Path(self.data_dir) / f"journal.{index}.jsonl"

    # -- writing -------------------------------------------------------------------------------

    def record(
        self,
        *,
        origin: str,
        operation: str,
        result: str,
        documents: Sequence[DocumentInfo] = (),
        certificate: CertificateEntry | None = None,
        detail: str = "",
        duration_ms: int = 0,
    ) -> JournalRecord:
        """Append one record (fsync'd before returning)."""
        rec = JournalRecord(
            time=self.clock(),
            origin=_clean(origin),
            operation=_clean(str(operation)),
            result=_clean(str(result)),
            documents=tuple(
                DocumentInfo(_clean(d.name), int(d.size), _clean(d.sha256_hex), _clean(d.digest_algorithm))
                for d in documents
            ),
            certificate_fingerprint=certificate.fingerprint if certificate else "",
            certificate_subject=_clean(certificate.subject_cn) if certificate else "",
            detail=_clean(detail),
            duration_ms=max(0, int(duration_ms)),
        )
        self.append(rec)
        return rec

    def record_consent(
        self, request: Described, result: str, detail: str = "", *, duration_ms: int = 0
    ) -> JournalRecord:
        """Record the outcome of an operation described by its consent request (with the page-supplied
        parameters it showed: stamp text, reason, PES role... as the detail)."""
        shown = " ; ".join(getattr(request, "parameters", ()) or ())
        return self.record(
            origin=request.origin,
            operation=request.operation.value,
            result=result,
            documents=request.documents,
            certificate=request.certificate,
            detail=" — ".join(x for x in (detail, shown) if x),
            duration_ms=duration_ms,
        )

    def append(self, rec: JournalRecord) -> None:
        self.append_many([rec])

    def append_many(self, recs: Sequence[JournalRecord]) -> None:
        """Append records in order with one write and one fsync."""
        if not recs:
            return
        data = b"".join(
            (json.dumps(r.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8") for r in recs
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, exclusive_lock(self.path.with_name(FILE_NAME + ".lock")):
            self._rotate_if_needed(len(data))
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if _ends_torn(self.path):
                    # A writer was killed mid-line: end that line so ours stay parseable.
                    data = b"\n" + data
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

    def _rotate_if_needed(self, incoming: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0 or size + incoming <= self.max_bytes:
            return
        for i in range(self.keep, 0, -1):
            src = self.path if i == 1 else self.rotated_path(i - 1)
            if src.exists():
                os.replace(src, self.rotated_path(i))

    # -- reading -------------------------------------------------------------------------------

    def files(self) -> list[Path]:
        """Journal files, oldest first."""
        rotated = [self.rotated_path(i) for i in range(self.keep, 0, -1)]
        return [p for p in [*rotated, self.path] if p.exists()]

    def read(self, text_filter: str = "") -> Iterator[JournalRecord]:
        """All readable records, oldest first; torn or damaged lines are skipped."""
        for path in self.files():
            yield from (r for r in read_file(path) if r.matches(text_filter))

    def tail(self, limit: int = 500, text_filter: str = "") -> list[JournalRecord]:
        """The newest `limit` matching records, newest first (viewer)."""
        out = list(self.read(text_filter))
        return out[::-1][:limit]


def read_file(path: Path) -> Iterable[JournalRecord]:
    with contextlib.suppress(FileNotFoundError), path.open("rb") as fh:
        for raw in fh:
            try:
                data = json.loads(raw.decode("utf-8"))
                yield JournalRecord.from_json(data)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue


def _ends_torn(path: Path) -> bool:
    """True when the file is not empty and its last byte is not a newline."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
