"""The native host's relay: browser frames ⇄ agent frames. No crypto, no policy.

`Relay` is sans-I/O (it turns frames into frames and remembers which requests are in flight, so an
agent that dies mid-operation still gets every waiting page an answer). `AgentLink` is the blocking
connection to the agent, which it starts when absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from sceau.config import Config
from sceau.errors import BadRequest
from sceau.protocol import messages
from sceau.protocol.codes import ErrorCode
from sceau.protocol.constants import AGENT_LAUNCH, HOST_CHUNK_LIMIT, ExitCode
from sceau.protocol.framing import HEADER, chunk_frames, decode_json, encode_body, encode_frame, recover_id
from sceau.transports.ipc import pipe_name, socket_path
from sceau.transports.unix import connect_private

AGENT_ARGS_ENV = "SCEAU_AGENT_ARGS"  # extra arguments for an agent the host starts (tests, packagers)
# Large frames (document chunks) are relayed without parsing their JSON: the extension and the
# agent both write `{"v":1,"id":"…",` first, then `"cmd"` / `"ok"` / `"event"`; this reads that head.
_HEAD_RE = re.compile(rb'\{\s*"v"\s*:\s*1\s*,\s*"id"\s*:\s*"([^"\\]{1,128})"\s*,\s*"(cmd|ok|event)"\s*:')
FAST_PATH_MIN = 64 * 1024


def _head(body: bytes) -> tuple[str, str] | None:
    """(id, first key after it) of a large frame written by our own peers, else None (parse it)."""
    if len(body) < FAST_PATH_MIN:
        return None
    m = _HEAD_RE.match(body, 0, 512)
    return (m.group(1).decode("ascii", "replace"), m.group(2).decode()) if m else None


class Relay:
    """Tracks requests in flight between the browser and the agent (thread-safe)."""

    def __init__(self, max_request_bytes: int) -> None:
        self.max_request_bytes = max_request_bytes
        self._pending: set[str] = set()
        self._lock = threading.Lock()

    def from_browser(self, body: bytes) -> tuple[bytes | None, bytes | None]:
        """(frame for the agent, or None; frame for the browser, or None)."""
        head = _head(body)
        if head is not None:  # an upload chunk: the agent parses it once, we do not
            with self._lock:
                self._pending.add(head[0])
            return encode_body(body), None
        try:
            obj = decode_json(body)
        except BadRequest as exc:
            return None, encode_frame(messages.error(None, ErrorCode.BAD_REQUEST, exc.message))
        rid = messages.request_id_of(obj)
        if rid is not None:
            with self._lock:
                self._pending.add(rid)
        return encode_body(body), None

    def from_agent(self, body: bytes) -> list[bytes]:
        """Frames for the browser; a final response (has `ok`) ends its request."""
        head = _head(body)
        if head is not None and len(body) <= HOST_CHUNK_LIMIT:  # a fetched chunk: passed through as is
            if head[1] == "ok":
                with self._lock:
                    self._pending.discard(head[0])
            return [encode_body(body)]
        try:
            obj = json.loads(body)
        except ValueError:
            return []  # the agent only writes JSON; drop rather than forward garbage
        rid = messages.request_id_of(obj)
        if rid is not None and "ok" in obj:
            with self._lock:
                self._pending.discard(rid)
        return chunk_frames(body, rid, HOST_CHUNK_LIMIT)

    def agent_lost(
        self,
        msg: str = "The Sceau agent stopped during the operation; please try again.",
        code: ErrorCode = ErrorCode.INTERNAL,
    ) -> list[bytes]:
        """Errors for every request the (dead or unreachable) agent will never answer."""
        with self._lock:
            ids, self._pending = sorted(self._pending), set()
        return [encode_frame(messages.error(i, code, msg)) for i in ids]

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)


def too_large_frame(length: int, limit: int, prefix: bytes) -> bytes:
    return encode_frame(messages.too_large_request(recover_id(prefix), length, limit))


class AgentUnavailable(Exception):
    """The agent could not be reached or started."""


class AgentLink:
    """A blocking connection to the agent's socket (or pipe)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._send_lock = threading.Lock()

    def send(self, frame: bytes) -> None:
        with self._send_lock:
            if isinstance(self._sock, socket.socket):
                self._sock.sendall(frame)
            else:  # pragma: no cover - Windows pipe file object
                self._sock.write(frame)
                self._sock.flush()

    def recv(self, size: int = 256 * 1024) -> bytes:
        if isinstance(self._sock, socket.socket):
            return self._sock.recv(size)
        return bytes(self._sock.read(size) or b"")  # pragma: no cover - Windows: one ReadFile

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if isinstance(self._sock, socket.socket):
                self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._sock.close()


def connect(config: Config) -> AgentLink:
    """Connect to a running agent, checking the socket and the peer are ours. OSError if none."""
    if sys.platform == "win32":  # pragma: no cover - Windows
        return AgentLink(open(pipe_name(), "r+b", buffering=0))
    return AgentLink(connect_private(socket_path(config)))


def agent_command() -> list[str]:
    """How to start the agent: same interpreter (same install), `sceau agent` plus extra arguments."""
    return [sys.executable, *AGENT_LAUNCH, *shlex.split(os.environ.get(AGENT_ARGS_ENV, ""))]


def start_agent(config: Config) -> subprocess.Popen[bytes]:
    """Start a detached agent; its output goes to a log file, never to our stdout (the browser)."""
    runtime = config.runtime_path()
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = open(runtime / "agent-start.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        kwargs: dict[str, Any] = {}
        if sys.platform == "win32":  # pragma: no cover - Windows
            kwargs["creationflags"] = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True  # survives the host (and the browser closing the host)
        return subprocess.Popen(
            agent_command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True, **kwargs
        )
    finally:
        log.close()


def connect_or_start(config: Config, timeout: float = 20.0) -> AgentLink:
    """Connect, starting the agent first if it is not running; raise AgentUnavailable on failure."""
    try:
        return connect(config)
    except OSError:
        pass
    proc = start_agent(config)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return connect(config)
        except OSError:
            pass
        code = proc.poll()
        if code is not None and code not in (ExitCode.OK, ExitCode.ALREADY_RUNNING):
            raise AgentUnavailable(f"the agent exited with status {code} (see agent-start.log)")
        time.sleep(0.05)
    raise AgentUnavailable("the agent did not start in time")


def read_exact(stream: Any, n: int) -> bytes | None:
    """Read exactly `n` bytes, or None on EOF before the first byte; EOFError if truncated."""
    buf = bytearray()
    while len(buf) < n:
        part = stream.read(n - len(buf))
        if not part:
            if buf:
                raise EOFError("truncated frame")
            return None
        buf += part
    return bytes(buf)


def read_browser_frame(stream: Any, limit: int) -> tuple[bytes | None, bytes | None]:
    """(body, None) for a frame; (None, error frame) for an oversized one (its body is skipped)."""
    header = read_exact(stream, HEADER.size)
    if header is None:
        raise EOFError
    (length,) = HEADER.unpack(header)
    if length <= limit:
        body = read_exact(stream, length) if length else b""
        if body is None:
            raise EOFError("truncated frame")
        return body, None
    # Skip the body without holding it (a hostile length must not make us allocate it), keeping
    # its beginning to answer with the right id.
    prefix = read_exact(stream, min(length, 512)) or b""
    left = length - len(prefix)
    while left > 0:
        part = stream.read(min(left, 1 << 20))
        if not part:
            raise EOFError("truncated frame")
        left -= len(part)
    return None, too_large_frame(length, limit, prefix)
