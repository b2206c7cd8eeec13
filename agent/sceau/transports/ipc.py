"""Local IPC transport: a Unix socket in the user's runtime dir (a named pipe on Windows).

Only pumps frames (`sceau.protocol.framing`) between clients (the native host, the CLI) and
`Agent.handle`; no policy lives here beyond who may connect:
- POSIX: runtime dir 0700 and owned by us, socket 0600, peer uid checked with SO_PEERCRED
  (getpeereid on BSD/macOS) so another user can never talk to our agent.
- Windows: per-user pipe name, client process must run in our logon session.
One agent per user session: an exclusive lock file held for the agent's lifetime; a socket file
found while we hold the lock is stale (its agent died) and is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import IO, Any

from sceau.config import Config
from sceau.errors import Busy, SceauError, TooLarge
from sceau.i18n import _
from sceau.protocol import messages
from sceau.protocol.codes import ErrorCode
from sceau.protocol.constants import HOST_CHUNK_LIMIT
from sceau.protocol.framing import FrameDecoder, Oversized, chunk_frames, encode_frame, encode_json
from sceau.protocol.session import (
    IPC,
    MAX_IN_FLIGHT_SHARED,
    ORIGIN_RATE_BURST,
    ORIGIN_RATE_PER_SECOND,
    RequestHandler,
    Session,
    TokenBucket,
)
from sceau.transports.browser_pipes import PipeListener, browser_socket_path
from sceau.transports.unix import bind_private, ensure_private_dir, peer_uid

log = logging.getLogger(__name__)

SOCKET_NAME = "agent.sock"
LOCK_NAME = "agent.lock"
READ_SIZE = 256 * 1024
# A client that stops mid-frame, or stops reading its replies, is dropped after this long without
# progress (an idle client between frames — the extension's persistent port — is left alone).
STALL_TIMEOUT_S = 30.0


class AgentAlreadyRunning(SceauError):
    """Another agent holds the session lock."""


def socket_path(config: Config) -> Path:
    return config.runtime_path() / SOCKET_NAME


def lock_path(config: Config) -> Path:
    return config.runtime_path() / LOCK_NAME


def pipe_name() -> str:
    """Per-user pipe name (Windows): the user name keeps two sessions' agents apart."""
    user = os.environ.get("USERNAME", "user").replace("\\", "_")
    return rf"\\.\pipe\sceau-agent-{user}"


class SessionLock:
    """Exclusive lock file held for the agent's lifetime; contains the agent's pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        fh = open(self.path, "a+", encoding="ascii")  # noqa: SIM115 - held open for the lifetime
        try:
            if sys.platform == "win32":  # pragma: no cover - Windows
                import msvcrt

                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise AgentAlreadyRunning(_("The Sceau agent is already running for this session.")) from None
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh

    @property
    def held(self) -> bool:
        return self._fh is not None

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing releases the lock
            self._fh = None


def read_agent_pid(config: Config) -> int | None:
    """The pid written by the running agent (tests, `sceau doctor`)."""
    try:
        return int(lock_path(config).read_text(encoding="ascii").strip() or "0") or None
    except (OSError, ValueError):
        return None


class _Connection:
    """One client: reads frames, runs requests concurrently, serialises writes. `browser`: the
    browser's own pipes (`browser_pipes`), with the browser's rules — an oversized request is
    answered and skipped (the port goes on), a reply above the browser's cap goes in chunks."""

    def __init__(
        self, server: IpcServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, browser: bool = False
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.browser = browser
        self.write_lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()
        # The extension's sites share this connection: each has its own in-flight cap and request rate.
        self.session = Session(
            IPC,
            max_in_flight=MAX_IN_FLIGHT_SHARED,
            origin_rate=lambda: TokenBucket(ORIGIN_RATE_PER_SECOND, ORIGIN_RATE_BURST),
        )
        self.closed = False

    async def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        if self.browser:
            frames = chunk_frames(encode_json(message), messages.request_id_of(message), HOST_CHUNK_LIMIT)
        else:
            frames = [encode_frame(message)]
        async with self.write_lock:  # the chunks of one reply stay together
            try:
                for frame in frames:
                    self.writer.write(frame)
                transport = self.writer.transport
                # A reply the kernel took whole needs no drain (wait_for would add a task and a loop turn).
                if transport.is_closing() or transport.get_write_buffer_size():
                    await asyncio.wait_for(self.writer.drain(), self.server.stall_timeout_s)
            except (ConnectionError, OSError, TimeoutError):
                self.closed = True
                self.writer.close()

    async def run(self) -> None:
        decoder = FrameDecoder(self.server.max_frame, skip_oversized=self.browser)
        try:
            while True:
                if decoder.pending:  # mid-frame: the rest must keep coming
                    try:
                        data = await asyncio.wait_for(self.reader.read(READ_SIZE), self.server.stall_timeout_s)
                    except TimeoutError:
                        log.warning("IPC client stalled mid-frame; closing it")
                        break
                else:
                    data = await self.reader.read(READ_SIZE)
                if not data:
                    break
                try:
                    items = decoder.feed_items(data)
                except TooLarge as exc:
                    # The stream cannot be resynchronised after a refused length: answer, then close.
                    await self.send(messages.error(None, ErrorCode.TOO_LARGE, exc.message))
                    break
                for item in items:
                    if isinstance(item, Oversized):
                        self._refuse(item)
                    else:
                        self._start(item)
        except (ConnectionError, OSError):
            pass
        finally:
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
            self.closed = True
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()

    def _refuse(self, item: Oversized) -> None:
        refusal = messages.too_large_request(item.request_id, item.length, self.server.max_frame)
        self._track(asyncio.create_task(self.send(refusal)))

    def _track(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _start(self, body: bytes) -> None:
        try:
            self.session.admit()
        except Busy as exc:
            task = asyncio.create_task(self.send(self.session.refusal(body, exc)))
        else:
            task = asyncio.create_task(self._serve(body))
        self._track(task)

    async def _serve(self, body: bytes) -> None:
        try:
            response = await self.server.handler.handle(body, session=self.session, emit=self.send)
            await self.send(response)
        finally:
            self.session.release()


class IpcServer:
    """Serve `handler` on the per-user socket (or pipe). Use `start()`, then `serve_forever()`/`close()`."""

    def __init__(self, handler: RequestHandler, config: Config, *, lock: SessionLock | None = None) -> None:
        """`lock`: the session lock when the caller took it already (before the slow agent setup)."""
        self.handler = handler
        self.config = config
        # A frame may carry a whole request plus JSON overhead (base64 is accounted for by the cap).
        self.max_frame = config.limits.max_message_bytes
        self.stall_timeout_s = STALL_TIMEOUT_S
        self.path = socket_path(config)
        self._lock = lock or SessionLock(lock_path(config))
        self._server: asyncio.AbstractServer | None = None
        self._pipe_servers: list[Any] = []
        self._connections: set[_Connection] = set()
        self._pipes: PipeListener | None = None

    async def start(self) -> None:
        ensure_private_dir(self.config.runtime_path())
        if not self._lock.held:
            self._lock.acquire()
        try:
            if sys.platform == "win32":  # pragma: no cover - Windows
                await self._start_pipe()
            else:
                await self._start_unix()
        except BaseException:
            self._lock.release()
            raise

    async def _start_unix(self) -> None:
        # We hold the session lock, so socket files left here belong to a dead agent. The browser
        # pipes' socket comes first: a native host that finds the agent's socket finds it too.
        if self.config.direct_browser_channel:
            self._pipes = PipeListener(browser_socket_path(self.config), self._adopt)
            self._pipes.start()
        listening = bind_private(self.path)
        self._server = await asyncio.start_unix_server(self._accept_unix, sock=listening)

    async def _start_pipe(self) -> None:  # pragma: no cover - Windows
        loop = asyncio.get_running_loop()
        start_serving_pipe = getattr(loop, "start_serving_pipe", None)
        if start_serving_pipe is None:
            raise SceauError(_("Named pipes need the Proactor event loop."))

        def factory() -> asyncio.StreamReaderProtocol:
            reader = asyncio.StreamReader(limit=READ_SIZE)
            return asyncio.StreamReaderProtocol(reader, self._accept_pipe)

        self._pipe_servers = await start_serving_pipe(factory, pipe_name())

    async def _accept_unix(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        uid = peer_uid(sock) if sock is not None else None
        if uid is not None and uid != os.getuid():
            # Unreachable with a 0600 socket unless root connects; refuse anyone but us anyway.
            log.warning("refused IPC client with uid %s", uid)
            writer.close()
            return
        await self._run(reader, writer)

    async def _accept_pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # pragma: no cover - Windows
        handle = writer.get_extra_info("pipe")  # windows_utils.PipeHandle of this instance
        if handle is not None and not _same_session_pipe_client(handle):
            log.warning("refused pipe client from another session")
            writer.close()
            return
        await self._run(reader, writer)

    async def _adopt(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._run(reader, writer, browser=True)

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, browser: bool = False) -> None:
        conn = _Connection(self, reader, writer, browser=browser)
        self._connections.add(conn)
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)
            self.handler.connection_closed(conn.session)

    async def broadcast(self, notification: dict[str, Any]) -> None:
        """Send an agent notification to every client that sent `subscribe` (agent listener)."""
        for conn in list(self._connections):
            if conn.session.subscribed:
                await conn.send(notification)

    async def serve_forever(self) -> None:
        if self._server is not None:
            await self._server.serve_forever()
        else:  # pragma: no cover - Windows: pipe servers run on their own
            await asyncio.Event().wait()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self._connections):
                conn.writer.close()
            if self._pipes is not None:
                await self._pipes.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        for ps in self._pipe_servers:  # pragma: no cover - Windows
            ps.close()
        self._lock.release()


def _same_session_pipe_client(handle: Any) -> bool:  # pragma: no cover - Windows
    """True when the pipe's client runs in our logon session (the pipe name is only a hint)."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    pid = wintypes.ULONG()
    raw = handle.fileno() if hasattr(handle, "fileno") else int(handle)
    if not kernel32.GetNamedPipeClientProcessId(wintypes.HANDLE(raw), ctypes.byref(pid)):
        return False
    theirs, ours = wintypes.DWORD(), wintypes.DWORD()
    if not kernel32.ProcessIdToSessionId(pid.value, ctypes.byref(theirs)):
        return False
    if not kernel32.ProcessIdToSessionId(os.getpid(), ctypes.byref(ours)):
        return False
    return bool(theirs.value == ours.value)
