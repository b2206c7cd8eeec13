"""Chunked transfers: payloads larger than one message, in both directions, per connection.

Chrome caps host→extension messages at 1 MB, so documents and results travel in numbered chunks.

Upload (page → agent), command `upload-chunk`:
    args   {"transfer": "<id>" (absent for chunk 0), "index": n, "data": "<base64>",
            "final": bool, "name": "bid.zip" (chunk 0 only, optional)}
    result {"transfer": "<id>", "received": bytes_so_far, "complete": bool,
            + when complete: "size", "sha256"}
    Chunk 0 opens the upload (and may announce the total `"size"`: checked against the limits and
    the free disk space before anything is written). The page may then keep up to
    `MAX_AHEAD` chunks in flight: one that arrives before its turn is held in memory and appended
    when the gap is filled, so the file is still written (and hashed) in order; the response that
    seals it says `complete`. A handler that takes a document accepts `{"transfer": "<id>"}` in
    place of inline bytes and consumes it.

Download (agent → page): a handler that produces a large result stores it with `add_download`
and returns its descriptor `{"transfer": "<id>", "size", "sha256", "chunks", "chunkSize", "name"}`.
Command `fetch-chunk`:
    args   {"transfer": "<id>", "index": n}
    result {"transfer": "<id>", "index": n, "data": "<base64>", "final": bool, "sha256": "<hex of this chunk>"}
    Chunks may be fetched in any order, several at a time; the result is deleted once every chunk
    has been fetched (plaintext does not linger).

Limits: a chunk ≤ `UPLOAD_CHUNK_MAX` raw bytes; one transfer ≤ `limits.max_document_bytes`; all
transfers of a connection ≤ `limits.max_total_bytes` and ≤ `MAX_TRANSFERS`; a transfer idle for
`EXPIRY_S` is dropped. Data sits in a private (0700) temporary directory per connection, removed
by `close()` — the agent closes the connection's store when the connection ends
(`sceau.operations.context.Connection`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sceau.config import Limits
from sceau.errors import BadRequest, TooLarge
from sceau.i18n import _
from sceau.protocol.constants import DOWNLOAD_CHUNK, UPLOAD_CHUNK_MAX
from sceau.store.files import atomic_write
from sceau.tokens.base import Digest

MAX_TRANSFERS = 64  # per connection; the extension shares one native connection among all tabs
MAX_AHEAD = 8  # upload chunks held while an earlier one is still on its way (pipelined pages)
EXPIRY_S = 600.0
SPACE_MARGIN = 16 << 20  # room left on the disk beyond the document and its result


@dataclass
class Transfer:
    id: str
    direction: str  # "upload" / "download"
    path: Path
    name: str
    size: int = 0
    next_index: int = 0
    complete: bool = False
    sha256: str = ""
    touched: float = 0.0
    _hash: Any = field(default_factory=hashlib.sha256, repr=False)
    _ahead: dict[int, tuple[bytes, bool]] = field(default_factory=dict, repr=False)  # early upload chunks
    _fetched: set[int] = field(default_factory=set, repr=False)  # download chunks already served

    @property
    def chunks(self) -> int:
        return max(1, -(-self.size // DOWNLOAD_CHUNK))

    def descriptor(self) -> dict[str, Any]:
        return {
            "transfer": self.id,
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "chunks": self.chunks,
            "chunkSize": DOWNLOAD_CHUNK,
        }


def _unknown() -> BadRequest:
    return BadRequest(_("Unknown or expired transfer."))


class TransferStore:
    """The transfers of one connection. Thread-safe: handlers call it from executor threads."""

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._transfers: dict[str, Transfer] = {}
        self.root = Path(tempfile.mkdtemp(prefix="sceau-transfer-"))
        os.chmod(self.root, 0o700)
        # Last resort if the transport forgets close(): the directory goes with the store.
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.root, True)

    # -- bookkeeping --------------------------------------------------------------------------
    def _expire(self) -> None:
        now = self._clock()
        for t in [t for t in self._transfers.values() if now - t.touched > EXPIRY_S]:
            self._drop(t)

    def _drop(self, t: Transfer) -> None:
        self._transfers.pop(t.id, None)
        t.path.unlink(missing_ok=True)

    def _total(self) -> int:
        return sum(t.size + sum(len(d) for d, _f in t._ahead.values()) for t in self._transfers.values())

    def _check_space(self, size: int) -> None:
        """Before an upload of `size` bytes: the limits, and room on disk for it and a result as big."""
        if size > self.limits.max_document_bytes:
            raise TooLarge(
                _("The document is larger than allowed ({limit} MB).").format(
                    limit=self.limits.max_document_bytes >> 20
                )
            )
        if self._total() + size > self.limits.max_total_bytes:
            raise TooLarge(_("Too much data in transfer on this connection."))
        free = shutil.disk_usage(self.root).free
        if free < 2 * size + SPACE_MARGIN:
            raise TooLarge(
                _("Not enough free disk space for this document: {need} MB needed, {free} MB free.").format(
                    need=(2 * size + SPACE_MARGIN) >> 20, free=free >> 20
                )
            )

    def _get(self, transfer_id: object, direction: str) -> Transfer:
        if not isinstance(transfer_id, str):
            raise _unknown()
        t = self._transfers.get(transfer_id)
        if t is None or t.direction != direction:
            raise _unknown()
        t.touched = self._clock()
        return t

    def require(self, transfer_id: object, direction: str) -> None:
        """UNKNOWN_TRANSFER unless `transfer_id` names a transfer of `direction`; reads one dict entry
        without the lock (safe on the event loop, so a bad id costs no thread hop)."""
        t = self._transfers.get(transfer_id) if isinstance(transfer_id, str) else None
        if t is None or t.direction != direction:
            raise _unknown()

    def _new(self, direction: str, name: str) -> Transfer:
        if len(self._transfers) >= MAX_TRANSFERS:
            raise TooLarge(_("Too many transfers in progress."))
        tid = secrets.token_urlsafe(16)
        path = self.root / f"{direction}-{tid}"
        t = Transfer(tid, direction, path, name[:255], touched=self._clock())
        self._transfers[tid] = t
        return t

    # -- uploads ------------------------------------------------------------------------------
    def upload_chunk(
        self, transfer_id: str | None, index: int, data: bytes, final: bool, name: str = "", size: int | None = None
    ) -> dict[str, Any]:
        """Add one chunk to an upload; chunk 0 without id opens it (see the module docstring)."""
        if len(data) > UPLOAD_CHUNK_MAX:
            raise TooLarge(_("A transfer chunk is too large."))
        with self._lock:
            self._expire()
            if transfer_id is None:
                if index != 0:
                    raise BadRequest(_("A new transfer starts with chunk 0."))
                if size is not None:
                    self._check_space(size)
                t = self._new("upload", name or "document")
                t.path.touch(mode=0o600)
            else:
                t = self._get(transfer_id, "upload")
            ahead = index - t.next_index
            if t.complete or not 0 <= ahead < MAX_AHEAD or index in t._ahead:
                raise BadRequest(_("Transfer chunk out of order (expected {n}).").format(n=t.next_index))
            if t.size + len(data) > self.limits.max_document_bytes:
                self._drop(t)
                raise TooLarge(_("The document is larger than allowed."))
            if self._total() + len(data) > self.limits.max_total_bytes:
                self._drop(t)
                raise TooLarge(_("Too much data in transfer on this connection."))
            t._ahead[index] = (data, final)
            sealed = False
            if ahead == 0:  # its turn: append it and every held chunk that now follows
                with open(t.path, "ab") as f:
                    while t.next_index in t._ahead and not t.complete:
                        chunk, last = t._ahead.pop(t.next_index)
                        f.write(chunk)
                        t._hash.update(chunk)
                        t.size += len(chunk)
                        t.next_index += 1
                        if last:
                            t.complete = sealed = True
                if t.complete and t._ahead:  # chunks after the final one
                    self._drop(t)
                    raise BadRequest(_("Transfer chunk after the final one."))
            result: dict[str, Any] = {"transfer": t.id, "received": t.size, "complete": sealed}
            if sealed:
                t.sha256 = t._hash.hexdigest()
                result.update(size=t.size, sha256=t.sha256)
            return result

    def completed_upload(self, transfer_id: object) -> Transfer:
        """A sealed upload for a handler to read; call `release` when done with it."""
        with self._lock:
            t = self._get(transfer_id, "upload")
            if not t.complete:
                raise BadRequest(_("The transfer is not complete (send its final chunk)."))
            return t

    def add_inline(self, data: bytes, name: str) -> Transfer:
        """A small inline document, stored like an upload so handlers have one code path."""
        with self._lock:
            t = self._new("upload", name or "document")
            t.path.write_bytes(data)
            os.chmod(t.path, 0o600)
            t.size, t.complete, t.sha256, t.next_index = len(data), True, hashlib.sha256(data).hexdigest(), 1
            return t

    # -- downloads ----------------------------------------------------------------------------
    def new_output_path(self) -> Path:
        """Where a handler may write a result before `add_download` (same private directory)."""
        return self.root / f"out-{secrets.token_urlsafe(12)}"

    def add_download(self, path: Path, name: str, sha256: str = "") -> dict[str, Any]:
        """Register a finished result file (moved into the store) and return its descriptor."""
        with self._lock:
            self._expire()
            t = self._new("download", name)
            os.replace(path, t.path)
            t.size = t.path.stat().st_size
            if self._total() > self.limits.max_total_bytes:
                self._drop(t)
                raise TooLarge(_("The result is larger than allowed."))
            # Every download carries its digest so the page can check what it reassembled.
            t.sha256 = sha256 or Digest.SHA256.digest_file(t.path).hex()
            t.complete = True
            return t.descriptor()

    def add_download_data(self, data: bytes, name: str, sha256: str = "") -> dict[str, Any]:
        """Register a result held in memory: written atomically in the store's directory, then as `add_download`."""
        target = self.new_output_path()
        atomic_write(target, data)
        return self.add_download(target, name, sha256 or hashlib.sha256(data).hexdigest())

    def fetch_chunk(self, transfer_id: object, index: int) -> tuple[bytes, bool]:
        """Chunk `index` of a result, and whether it is the last; deleted once every chunk was fetched."""
        with self._lock:
            t = self._get(transfer_id, "download")
            if not 0 <= index < t.chunks:
                raise BadRequest(_("Transfer chunk index out of range."))
            with open(t.path, "rb") as f:
                f.seek(index * DOWNLOAD_CHUNK)
                data = f.read(DOWNLOAD_CHUNK)
            t._fetched.add(index)
            if len(t._fetched) == t.chunks:  # every chunk served (in any order): gone
                self._drop(t)
            return data, index == t.chunks - 1

    def release(self, transfer_id: str) -> None:
        with self._lock:
            t = self._transfers.get(transfer_id)
            if t is not None:
                self._drop(t)

    def close(self) -> None:
        with self._lock:
            self._transfers.clear()
            self._finalizer()
