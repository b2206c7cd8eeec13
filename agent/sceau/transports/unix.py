"""Private Unix sockets (POSIX): who may listen and who may connect (shared by the IPC transport,
the browser-pipe handover and the native host)."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
from pathlib import Path

from sceau.errors import SceauError
from sceau.i18n import _


class UnsafeSocket(SceauError):
    """The socket or its directory is not ours (another user could be listening or connecting)."""


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (None if the OS cannot say)."""
    if hasattr(socket, "SO_PEERCRED"):  # Linux
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        return int(uid)
    getpeereid = getattr(os, "getpeereid", None)  # not in the stdlib today; kept for BSD builds
    if getpeereid is not None:
        return int(getpeereid(sock.fileno())[0])
    return None


def ensure_private_dir(folder: Path) -> None:
    """Create the runtime dir 0700; refuse one owned by someone else or open to others."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name != "posix":
        return
    st = folder.stat()
    if st.st_uid != os.getuid():
        raise UnsafeSocket(_("The folder {path} belongs to another user.").format(path=folder))
    if st.st_mode & 0o077:
        os.chmod(folder, 0o700)


def check_socket_file(path: Path) -> None:
    """Before connecting: the socket must be ours and not writable by others (POSIX)."""
    if os.name != "posix":
        return
    st = path.lstat()
    if not stat.S_ISSOCK(st.st_mode):
        raise UnsafeSocket(_("{path} is not a socket.").format(path=path))
    if st.st_uid != os.getuid():
        raise UnsafeSocket(_("The agent socket {path} belongs to another user.").format(path=path))
    if st.st_mode & 0o077:
        raise UnsafeSocket(_("The agent socket {path} is accessible to other users.").format(path=path))


def bind_private(path: Path) -> socket.socket:
    """A listening socket at `path`, created 0600 (no window where others may connect); a file left
    there is replaced (callers hold the session lock, so it belongs to a dead agent)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(str(path))
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(16)
    sock.setblocking(False)
    return sock


def connect_private(path: Path) -> socket.socket:
    """Connect to our own socket at `path`, checking the file and the peer. OSError if none."""
    check_socket_file(path)  # FileNotFoundError (an OSError) when nothing listens there
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        uid = peer_uid(sock)
        if uid is not None and uid != os.getuid():
            raise PermissionError("socket served by another user")
    except BaseException:
        sock.close()
        raise
    return sock
