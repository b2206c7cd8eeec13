"""Each PKCS#11 module in a process of its own (configuration `isolate_modules`), with p11-kit's RPC.

`p11-kit server --provider MODULE pkcs11:` loads the module in a child process per connection and
serves it on a Unix socket; the agent loads p11-kit's client module (`p11-kit-client.so`, pointed at
the socket by `P11_KIT_SERVER_ADDRESS`) instead of the module itself. A middleware that segfaults kills
only that child: the agent sees its calls fail, reports the module's tokens gone (`TOKEN_REMOVED`), keeps
serving the other modules, and connects again (a fresh child) at the next use — restarting the server
itself if it died too. The client module reads the address when it is initialised, so each host gets a
copy of it (one library instance per module; a library file is loaded once per process).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sceau.errors import ModuleLoadError
from sceau.i18n import _

log = logging.getLogger(__name__)

CLIENT_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",  # Debian, Ubuntu (p11-kit-modules)
    "/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
    "/usr/lib64/pkcs11/p11-kit-client.so",  # Fedora, openSUSE
    "/usr/lib/pkcs11/p11-kit-client.so",  # Arch
)
START_TIMEOUT_S = 10.0
CRASH_REPORT_WAIT_S = 0.5  # the server logs a child's death a moment after the client sees the socket close

_ENV_LOCK = threading.Lock()  # P11_KIT_SERVER_ADDRESS is process-wide: one client initialised at a time


def client_module() -> str | None:
    return next((c for c in CLIENT_CANDIDATES if os.path.isfile(c)), None)


def available() -> bool:
    """p11-kit's server and client module are installed (Linux with p11-kit and p11-kit-modules)."""
    return shutil.which("p11-kit") is not None and client_module() is not None


class ModuleHost:
    """One `p11-kit server` serving one module; `crashes` counts the children that died of a signal."""

    def __init__(self, module: str, folder: Path) -> None:
        self.module = module
        self.folder = folder
        self.socket = folder / "pkcs11.sock"
        self.client = str(folder / "p11-kit-client.so")
        self.crashes = 0
        self.acknowledged = 0  # crashes already handled (tokens dropped, client connected again)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"unix:path={self.socket}"

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stale(self) -> bool:
        """The module's process died since the client connected: its handles are gone."""
        return self.crashes > self.acknowledged or not self.running()

    def ensure(self) -> None:
        """Start the server if it is not running (first use, or it died)."""
        with self._lock:
            if self.running():
                return
            binary = shutil.which("p11-kit")
            client = client_module()
            if binary is None or client is None:
                raise ModuleLoadError(
                    _(
                        "Module isolation needs p11-kit's server and client module (packages p11-kit and "
                        "p11-kit-modules): install them, or set isolate_modules = false."
                    )
                )
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not os.path.isfile(self.client):
                shutil.copyfile(client, self.client)
            self.socket.unlink(missing_ok=True)
            cmd = [binary, "server", "-f", "--provider", self.module, "-n", str(self.socket), "pkcs11:"]
            # util-linux's setpriv: the server ends with the agent, even killed. The signal comes when the
            # *thread* that started it ends: hosts are started on their module's lane (tokens.executor),
            # which lives as long as the agent; a host ended early is started again at the next listing.
            setpriv = shutil.which("setpriv")
            if setpriv is not None:
                cmd = [setpriv, "--pdeathsig", "TERM", *cmd]
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True
            )
            ready = threading.Event()
            threading.Thread(target=self._watch, args=(self._proc,), name="sceau-module-host", daemon=True).start()
            threading.Thread(
                target=self._ready, args=(self._proc, ready), name="sceau-module-host", daemon=True
            ).start()
            deadline = time.monotonic() + START_TIMEOUT_S
            while not ready.wait(0.02):
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self._stop_locked()
                    raise ModuleLoadError(
                        _("Cannot start the process hosting the PKCS#11 module {path}.").format(path=self.module)
                    )
                time.sleep(0.02)
            self.acknowledged = self.crashes
            log.info("PKCS#11 module %s hosted by p11-kit server (pid %s)", self.module, self._proc.pid)

    @staticmethod
    def _ready(proc: subprocess.Popen[bytes], ready: threading.Event) -> None:
        """The server prints its address and pid once it listens (a socket file alone may not accept yet)."""
        assert proc.stdout is not None
        for raw in proc.stdout:
            if raw.startswith(b"P11_KIT_SERVER_PID="):
                ready.set()

    def _watch(self, proc: subprocess.Popen[bytes]) -> None:
        """Read the server's messages: "child N died with sig…" is a crash of the module."""
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").strip()
            if "died with" in line:
                self.crashes += 1
                log.warning("PKCS#11 module %s crashed in its host process: %s", self.module, line)
            elif line:
                log.info("module host %s: %s", self.module, line)

    def wait_crash(self, since: int, timeout: float = CRASH_REPORT_WAIT_S) -> bool:
        """Whether a crash after `since` is reported (or the server is gone) within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            if self.crashes > since or not self.running():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def kill_children(self) -> int:
        """End the processes serving the module (a call stuck in it): the stuck call returns with an
        error, and the next use connects a fresh one. The server itself stays."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return 0
        killed = 0
        for pid in _children(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        if killed:
            log.warning("PKCS#11 module %s stuck in a call: its host process stopped", self.module)
        return killed

    def _stop_locked(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=2)

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    @contextmanager
    def addressed(self) -> Iterator[None]:
        """P11_KIT_SERVER_ADDRESS set to this host while its client module initialises."""
        with _ENV_LOCK:
            before = os.environ.get("P11_KIT_SERVER_ADDRESS")
            os.environ["P11_KIT_SERVER_ADDRESS"] = self.address
            try:
                yield
            finally:
                if before is None:
                    os.environ.pop("P11_KIT_SERVER_ADDRESS", None)
                else:
                    os.environ["P11_KIT_SERVER_ADDRESS"] = before


def _remove_orphans(base: Path) -> None:
    """Folders left by an agent that was killed (no atexit): its hosts ended with it (pdeathsig)."""
    for folder in base.glob("sceau-hosts-*-*"):
        try:
            pid = int(folder.name.split("-")[2])
            os.kill(pid, 0)
        except ValueError:
            continue
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # another user's agent, alive
            continue


def _children(pid: int) -> list[int]:
    """Child processes of `pid` (Linux /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]
    except (OSError, ValueError):
        pass
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1:2] == [str(pid)]:
            found.append(int(stat.parent.name))
    return found


class ModuleHosts:
    """The hosts of this process, by module file; their folder is private and removed at exit."""

    def __init__(self) -> None:
        self._hosts: dict[str, ModuleHost] = {}
        self._guard = threading.Lock()
        self._root: Path | None = None
        self._made = 0

    def _folder(self) -> Path:
        if self._root is None:
            base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
            _remove_orphans(Path(base))
            self._root = Path(tempfile.mkdtemp(prefix=f"sceau-hosts-{os.getpid()}-", dir=base))
            atexit.register(self.close)
        return self._root

    def host(self, module: str) -> ModuleHost:
        real = os.path.realpath(module)
        with self._guard:
            host = self._hosts.get(real)
            if host is None:
                self._made += 1
                host = self._hosts[real] = ModuleHost(module, self._folder() / str(self._made))
            return host

    def get(self, module: str) -> ModuleHost | None:
        # On every token call (`token_errors`): no path resolution when no module is hosted (the default).
        return self._hosts.get(os.path.realpath(module)) if self._hosts else None

    def drop(self, module: str) -> None:
        with self._guard:
            host = self._hosts.pop(os.path.realpath(module), None)
        if host is not None:
            host.stop()

    def close(self) -> None:
        with self._guard:
            hosts = list(self._hosts.values())
            self._hosts.clear()
        for host in hosts:
            host.stop()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


HOSTS = ModuleHosts()
