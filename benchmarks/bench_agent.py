"""Agent cold start, idle RSS and idle wakeups (`sceau agent --headless`), with same-run baselines.

- cold start: process spawn → first `hello` answered over the agent's socket, paired with
  `python -c pass` (benchmarks.paired, 3 pairs). Goal ≤ 1.5 s.
- idle RSS: VmRSS after the agent settled; baseline: a bare `python` sleeping. Goal ≤ 60 MB.
- idle wakeups: voluntary + involuntary context switches of all the agent's threads over
  DURATION seconds (default 60, `--duration N`), per minute; baseline: a sleeping python.
  Goal: no periodic polling (a handful per minute at most).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.paired import compare

GOAL_START_S = 1.5
GOAL_RSS_MB = 60.0
GOAL_WAKEUPS_PER_MIN = 10.0


def agent_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    for name in ("config", "data", "run"):
        (root / name).mkdir(mode=0o700, exist_ok=True)
    env.update(
        XDG_CONFIG_HOME=str(root / "config"), XDG_DATA_HOME=str(root / "data"), XDG_RUNTIME_DIR=str(root / "run")
    )
    return env


def hello(sock_path: Path) -> dict[str, object]:
    from sceau.protocol.framing import FrameDecoder, decode_json, encode_frame

    request = {"v": 1, "id": "bench", "cmd": "hello", "args": {}, "origin": "https://bench.example"}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(sock_path))
        s.sendall(encode_frame(request))
        decoder = FrameDecoder(1 << 20)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("agent closed the connection")
            frames = decoder.feed(chunk)
            if frames:
                result: dict[str, object] = decode_json(frames[0])
                return result


def start_agent(root: Path) -> tuple[subprocess.Popen[bytes], float, Path]:
    """Start the agent; return it, the seconds until `hello` was answered, and its socket."""
    env = agent_env(root)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sceau.cli", "agent", "--headless"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = t0 + 30
    while time.perf_counter() < deadline:
        socks = list((root / "run").rglob("agent.sock"))
        if socks:
            try:
                answer = hello(socks[0])
            except OSError:
                time.sleep(0.005)
                continue
            if not answer.get("ok"):
                raise RuntimeError(f"hello failed: {json.dumps(answer)}")
            return proc, time.perf_counter() - t0, socks[0]
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "agent exited")
        time.sleep(0.005)
    proc.kill()
    raise RuntimeError("the agent did not answer within 30 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def switches(pid: int) -> int:
    """Voluntary + involuntary context switches summed over every thread of `pid`."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:  # thread ended meanwhile
            continue
        for line in text.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def idle_profile(pid: int, duration: float) -> tuple[float, float]:
    """(RSS MB, wakeups per minute) of an idle process."""
    before = switches(pid)
    time.sleep(duration)
    after = switches(pid)
    return rss_mb(pid), (after - before) * 60.0 / duration


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=60.0, help="idle measurement window (seconds)")
    args = parser.parse_args()

    # Cold start paired with a bare interpreter start (benchmarks.paired).
    def python_pass() -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        return time.perf_counter() - t0

    def agent_start() -> float:
        with tempfile.TemporaryDirectory(prefix="sceau-bench-agent-") as tmp:
            proc, elapsed, _sock = start_agent(Path(tmp))
            stop(proc)
            return elapsed

    compare(
        "agent cold start (spawn -> hello)",
        "python -c pass",
        python_pass,
        "sceau agent",
        agent_start,
        pairs=3,
        goal=(f"<= {GOAL_START_S} s", lambda r: statistics.median(r.candidate_s) <= GOAL_START_S),
    )

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(100000)"])
    with tempfile.TemporaryDirectory(prefix="sceau-bench-agent-") as tmp:
        proc, _elapsed, _sock = start_agent(Path(tmp))
        try:
            time.sleep(3)  # let start-up work (module discovery, threads) finish
            # Both measured over the same window, side by side.
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(2) as pool:
                agent_f = pool.submit(idle_profile, proc.pid, args.duration)
                base_f = pool.submit(idle_profile, sleeper.pid, args.duration)
                rss, wakeups = agent_f.result()
                base_rss, base_wakeups = base_f.result()
        finally:
            stop(proc)
            sleeper.kill()
            sleeper.wait()
    print(
        f"  idle RSS                            {rss:6.1f} MB   baseline sleeping python {base_rss:6.1f} MB   "
        f"ratio {rss / base_rss:5.1f}x   goal ≤ {GOAL_RSS_MB:.0f} MB {'OK' if rss <= GOAL_RSS_MB else 'MISSED'}"
    )
    print(
        f"  idle wakeups over {args.duration:.0f} s             {wakeups:6.1f} /min   baseline "
        f"{base_wakeups:6.1f} /min   goal ≤ {GOAL_WAKEUPS_PER_MIN:.0f} /min "
        f"{'OK' if wakeups <= GOAL_WAKEUPS_PER_MIN else 'MISSED (periodic polling?)'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
