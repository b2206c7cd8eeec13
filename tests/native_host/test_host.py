"""The native host as the browser runs it: a subprocess speaking native messaging on stdio, in both
of its modes: `direct` (it hands its stdio to the agent, which then answers the browser itself) and
`relay` (`direct_browser_channel = false`: it relays every frame, as on Windows)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sceau.protocol.constants import AGENT_LAUNCH, BROWSER_MAX_INBOUND
from sceau.protocol.framing import encode_frame
from sceau_native_host.manifests import DEV_EXTENSION_ID, FIREFOX_EXTENSION_IDS

STUB = Path(__file__).with_name("stub_agent.py")
CALLER = f"chrome-extension://{DEV_EXTENSION_ID}/"
CAP = 256 * 1024  # browser → host cap configured for these tests


class Env:
    def __init__(self, root: Path, mode: str) -> None:
        self.root = root
        self.runtime = root / "run"
        self.direct = mode == "direct"
        (root / "cfg" / "sceau").mkdir(parents=True)
        (root / "cfg" / "sceau" / "config.toml").write_text(
            f'runtime_dir = "{self.runtime}"\ndata_dir = "{root / "data"}"\n'
            f"direct_browser_channel = {'true' if self.direct else 'false'}\n"
            "disable_module_discovery = true\n[limits]\n"
            f"max_message_bytes = {CAP}\n",
            encoding="utf-8",
        )
        self.vars = dict(os.environ, XDG_CONFIG_HOME=str(root / "cfg"), SCEAU_AGENT_ARGS="--headless")
        self.procs: list[subprocess.Popen[bytes]] = []

    def stub_agent(self) -> subprocess.Popen[bytes]:
        flags = [] if self.direct else ["--relay"]
        proc = subprocess.Popen(
            [sys.executable, str(STUB), str(self.runtime), *flags], stdout=subprocess.PIPE, env=self.vars
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        self.procs.append(proc)
        return proc

    def host(self, *args: str) -> Host:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sceau_native_host", *(args or (CALLER,))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.vars,
        )
        self.procs.append(proc)
        return Host(proc)

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        pid_file = self.runtime / "agent.lock"
        if pid_file.exists():  # an agent the host started
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text().strip()), 9)


class Host:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.buf = b""

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(encode_frame(message))

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _fill(self, n: int, timeout: float) -> bool:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("the host did not answer")
            data = os.read(fd, 1 << 20)
            if not data:
                return False
            self.buf += data
        return True

    def frame(self, timeout: float = 15) -> bytes | None:
        """One raw frame body (None at EOF)."""
        if not self._fill(4, timeout):
            return None
        (n,) = struct.unpack("<I", self.buf[:4])
        assert self._fill(4 + n, timeout)
        body, self.buf = self.buf[4 : 4 + n], self.buf[4 + n :]
        return body

    def recv(self, timeout: float = 15) -> dict[str, Any]:
        body = self.frame(timeout)
        assert body is not None, "host closed stdout"
        value: dict[str, Any] = json.loads(body)
        return value

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()


@pytest.fixture(params=["direct", "relay"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    root = Path(tempfile.mkdtemp(prefix="sc-nh-"))
    e = Env(root, request.param)
    yield e
    e.cleanup()
    shutil.rmtree(root, ignore_errors=True)


def test_unknown_extension_is_refused(env: Env) -> None:
    host = env.host("chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/")
    reply = host.recv()
    assert reply["error"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert host.proc.wait(5) == 1


def test_round_trip_and_clean_exit_on_eof(env: Env) -> None:
    env.stub_agent()
    host = env.host()
    host.send({"v": 1, "id": "1", "cmd": "echo", "origin": "https://a.fr", "args": {"x": 1}})
    assert host.recv() == {"v": 1, "id": "1", "ok": True, "result": {"echo": {"x": 1}, "origin": "https://a.fr"}}
    host.close_stdin()
    assert host.proc.wait(5) == 0


def test_firefox_caller_is_accepted(env: Env) -> None:
    env.stub_agent()
    host = env.host("/path/to/fr.sceau.agent.json", FIREFOX_EXTENSION_IDS[0])
    host.send({"v": 1, "id": "ff", "cmd": "echo"})
    assert host.recv()["ok"] is True


def test_large_reply_is_chunked_under_the_browser_limit(env: Env) -> None:
    env.stub_agent()
    host = env.host()
    size = 3 * 1024 * 1024
    host.send({"v": 1, "id": "big", "cmd": "big", "args": {"size": size}})
    frames = []
    first = host.frame()
    assert first is not None
    frames.append(first)
    count = json.loads(first)["chunk"]["count"]
    frames += [host.frame() for _ in range(count - 1)]  # type: ignore[misc]
    assert count >= 3
    assert all(f is not None and len(f) <= BROWSER_MAX_INBOUND for f in frames)
    chunks = [json.loads(f) for f in frames if f is not None]
    assert [c["chunk"]["index"] for c in chunks] == list(range(count))
    assert {c["id"] for c in chunks} == {"big"}
    whole = json.loads("".join(c["chunk"]["data"] for c in chunks))
    assert whole["id"] == "big" and whole["ok"] is True
    assert len(whole["result"]["blob"]) == size and whole["result"]["blob"].startswith('ab"c\\dé€😀\n')


def test_bad_frames_get_clear_codes_and_the_host_goes_on(env: Env) -> None:
    env.stub_agent()
    host = env.host()
    body = b"{not json"
    host.send_raw(struct.pack("<I", len(body)) + body)
    assert host.recv()["error"]["code"] == "BAD_REQUEST"
    # Above the configured cap: refused without buffering, the id recovered from its beginning.
    big = json.dumps({"v": 1, "id": "huge-1", "cmd": "echo", "args": {"pad": "x" * (CAP + 10)}}).encode()
    host.send_raw(struct.pack("<I", len(big)) + big)
    reply = host.recv()
    assert reply["id"] == "huge-1" and reply["error"]["code"] == "TOO_LARGE"
    host.send({"v": 1, "id": "after", "cmd": "echo"})
    assert host.recv()["id"] == "after"


def test_truncated_frame_then_eof_exits(env: Env) -> None:
    host = env.host()
    host.send_raw(struct.pack("<I", 1000) + b'{"v":1,')
    host.close_stdin()
    assert host.proc.wait(5) == 0


def test_agent_crash_mid_operation_answers_and_next_call_restarts_it(env: Env) -> None:
    stub = env.stub_agent()
    host = env.host()
    host.send({"v": 1, "id": "doomed", "cmd": "crash"})
    if env.direct:
        # The agent held the browser's pipes: they close with it, the host exits, and the browser
        # answers the waiting pages itself (the extension's port disconnects), then starts a new host.
        assert host.frame() is None
        assert host.proc.wait(5) == 0
        host = env.host()
    else:
        reply = host.recv()
        assert reply["id"] == "doomed" and reply["error"]["code"] == "INTERNAL"
        assert "Traceback" not in reply["error"]["message"]
    stub.wait(5)
    # The stub is gone (its socket file stays behind): the host starts the real agent.
    host.send({"v": 1, "id": "next", "cmd": "hello", "origin": "https://a.fr"})
    reply = host.recv(timeout=30)
    assert reply["id"] == "next" and reply["ok"] is True, reply
    assert reply["result"]["agent"] == "sceau"


def test_agent_that_cannot_start_is_reported(env: Env) -> None:
    env.vars["SCEAU_AGENT_ARGS"] = "--no-such-option"
    host = env.host()
    host.send({"v": 1, "id": "x", "cmd": "hello", "origin": "https://a.fr"})
    reply = host.recv(timeout=30)
    # A distinct code: pages (and the Web eID adapter) tell "not running" from a failed operation.
    assert reply["id"] == "x" and reply["error"]["code"] == "AGENT_UNAVAILABLE"


def test_two_hosts_starting_at_once_share_one_agent(env: Env) -> None:
    # Two browsers (say Chromium and Firefox) start their hosts together with no agent running.
    first, second = env.host(), env.host("/m.json", FIREFOX_EXTENSION_IDS[0])
    first.send({"v": 1, "id": "a", "cmd": "hello", "origin": "https://a.fr"})
    second.send({"v": 1, "id": "b", "cmd": "hello", "origin": "https://a.fr"})
    assert first.recv(timeout=30)["ok"] is True
    assert second.recv(timeout=30)["ok"] is True

    def agents() -> list[Path]:
        return [
            p
            for p in Path("/proc").iterdir()
            if p.name.isdigit()
            and _cmdline(p).startswith(" ".join([sys.executable, *AGENT_LAUNCH]))  # zombies have none
            and f"XDG_CONFIG_HOME={env.root / 'cfg'}" in _environ(p)
        ]

    deadline = time.monotonic() + 10  # the loser of the lock race exits at once, but give it time
    while len(agents()) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(agents()) == 1  # both hosts use the winner


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _environ(proc: Path) -> str:
    try:
        return (proc / "environ").read_bytes().replace(b"\0", b"\n").decode(errors="replace")
    except OSError:
        return ""
