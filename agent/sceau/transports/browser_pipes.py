"""The browser's own pipes, handed to the agent by the native host (POSIX).

The browser talks native messaging to the process it starts (the native host) on that process's
stdin and stdout. Relaying every message through the host costs two more process wake-ups and a
copy each way — on a loaded two-core machine, more than the whole browser channel itself. So the
host, once it has checked who called it, passes those two pipes to the agent over a private Unix
socket (SCM_RIGHTS) and only waits; the agent reads the browser's frames and writes its replies
(chunked under the browser's 1 MB cap) itself, as the host would have.

    host → agent   GREETING with the fds [stdin, stdout]
    agent → host   ACCEPTED, then serves the pipes; closing the socket tells the host to exit,
                   and a host that exits (its end closes) ends the channel: the port lives as
                   long as the process the browser started, as when the host relayed.

Anything else (an older agent without this socket, Windows, `direct_browser_channel = false`)
and the host relays as before. An agent that stops closes the pipes: the host exits, the browser
sees the port close and answers every waiting page (the extension does), and reconnects on the
next request, which starts the agent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

from sceau.config import Config
from sceau.transports.unix import bind_private, connect_private, peer_uid

log = logging.getLogger(__name__)

BROWSER_SOCKET_NAME = "browser.sock"
GREETING = b"SCEAU-PIPES 1\n"
ACCEPTED = b"OK\n"
HANDOVER_TIMEOUT_S = 5.0

Adopt = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def browser_socket_path(config: Config) -> Path:
    return config.runtime_path() / BROWSER_SOCKET_NAME


class PipeListener:
    """Takes the browser pipes native hosts hand over and runs `adopt(reader, writer)` on them."""

    def __init__(self, path: Path, adopt: Adopt) -> None:
        self.path = path
        self._adopt = adopt
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._sock = bind_private(self.path)
        self._spawn(self._accept_loop())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_loop(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _addr = await loop.sock_accept(self._sock)
            except OSError as exc:  # closed (agent stopping) or out of descriptors
                log.warning("browser pipe listener: %s", exc)
                return
            self._spawn(self._take(conn))

    async def _take(self, conn: socket.socket) -> None:
        fds: list[int] = []
        try:
            if peer_uid(conn) not in (None, os.getuid()):
                log.warning("refused a browser pipe handover from another user")
                return
            conn.setblocking(False)
            greeting, fds = await asyncio.wait_for(_receive_fds(conn), HANDOVER_TIMEOUT_S)
            if greeting != GREETING or len(fds) != 2 or not all(_is_pipe(fd) for fd in fds):
                log.warning("refused a malformed browser pipe handover")
                return
            rfd, wfd = fds
            fds = []  # open_streams owns them from here (and closes them if it fails)
            reader, writer = await open_streams(rfd, wfd)
            try:
                await asyncio.get_running_loop().sock_sendall(conn, ACCEPTED)
            except OSError:  # the host is gone: so is the browser's port
                writer.close()
                raise
            await self._serve(conn, reader, writer)
        except (OSError, TimeoutError) as exc:
            log.info("browser pipe handover failed: %s", exc)
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            conn.close()  # the host's signal to exit

    async def _serve(self, conn: socket.socket, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve the pipes for as long as the host lives: a host that exits (killed, or stopped by the
        browser) ends the channel, so the browser's port closes with its process, as when relaying."""
        serving = asyncio.ensure_future(self._adopt(reader, writer))
        host_gone = asyncio.ensure_future(_closed(conn))
        try:
            await asyncio.wait({serving, host_gone}, return_when=asyncio.FIRST_COMPLETED)
            if not serving.done():
                writer.close()  # also closes the reading side: the connection ends
                await serving
        finally:
            host_gone.cancel()
            serving.cancel()

    async def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _receive_fds(conn: socket.socket) -> tuple[bytes, list[int]]:
    """The greeting and the descriptors attached to it (non-blocking `conn`, on the event loop)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[bytes, list[int]]] = loop.create_future()

    def readable() -> None:
        if done.done():
            return
        try:
            data, fds, _flags, _addr = socket.recv_fds(conn, len(GREETING), 4)
        except BlockingIOError:
            return
        except OSError as exc:
            done.set_exception(exc)
            return
        done.set_result((data, list(fds)))

    loop.add_reader(conn.fileno(), readable)
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:  # timed out: descriptors that arrived meanwhile are not kept
        if done.done() and done.exception() is None:
            for fd in done.result()[1]:
                os.close(fd)
        raise
    finally:
        loop.remove_reader(conn.fileno())


async def _closed(conn: socket.socket) -> None:
    """Return when the host closes its end (it sends nothing after the greeting)."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(OSError):
        while await loop.sock_recv(conn, 64):
            pass


def _is_pipe(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def open_streams(rfd: int, wfd: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """asyncio streams over the browser's pipes (the reader: browser → us; the writer: us → browser).
    Takes ownership of both descriptors: on failure they are closed."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20, loop=loop)
    rfile = os.fdopen(rfd, "rb", buffering=0)
    wfile = os.fdopen(wfd, "wb", buffering=0)
    try:
        read_transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), rfile)
    except BaseException:
        rfile.close()
        wfile.close()
        raise
    try:
        transport, protocol = await loop.connect_write_pipe(lambda: _WriteSide(read_transport.close), wfile)
    except BaseException:
        read_transport.close()
        wfile.close()
        raise
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


class _WriteSide(asyncio.streams.FlowControlMixin):
    """The writer's protocol; closing the writer also closes the reading side (one connection)."""

    def __init__(self, on_lost: Callable[[], object]) -> None:
        super().__init__()
        self._on_lost = on_lost

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._on_lost()


def hand_over(config: Config, stdin_fd: int = 0, stdout_fd: int = 1) -> socket.socket | None:
    """Native host side: give the browser's pipes to the running agent. The socket to wait on (its
    end means the agent is done with them) when the agent took them, else None (relay instead)."""
    try:
        sock = connect_private(browser_socket_path(config))
    except Exception:  # no agent, an older one, or an unsafe socket: the relay says what is wrong
        return None
    try:
        sock.settimeout(HANDOVER_TIMEOUT_S)
        socket.send_fds(sock, [GREETING], [stdin_fd, stdout_fd])
        reply = sock.recv(len(ACCEPTED))
    except OSError:
        sock.close()
        return None
    if reply != ACCEPTED:
        sock.close()
        return None
    sock.settimeout(None)
    return sock


def wait_released(sock: socket.socket) -> None:
    """Block until the agent closes the handover socket (it stopped serving the pipes)."""
    with contextlib.suppress(OSError):
        while sock.recv(64):
            pass
    sock.close()
