"""The relying-party nonce stores: one conformance suite for the in-memory store and the Redis store,
the Redis one against a real `redis-server` (Debian package) started here on an ephemeral port."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sceau.devkit.pki import DevPki
from sceau_rp import AuthTokenError, NonceBackend, NonceStore, RedisNonceStore
from tests.rp.test_relying_party import make_token, validator

REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(REDIS_SERVER).exists():
        pytest.fail("redis-server is missing: `make deps` installs it (apt-get install redis-server)")
    folder = tmp_path_factory.mktemp("redis")
    for _attempt in range(5):  # the port picked may be taken by the time the server binds it
        port = free_port()
        proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--logfile", str(folder / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
            time.sleep(0.05)
        else:
            proc.kill()
            proc.wait()
            continue
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(folder, ignore_errors=True)
        return
    pytest.fail("redis-server did not start")


StoreFactory = Callable[[float], NonceBackend]


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    if request.param == "memory":
        shared = {}

        def memory(ttl: float) -> NonceBackend:
            # The memory store is per process: "two servers" share one instance.
            return shared.setdefault(ttl, NonceStore(ttl_s=ttl))

        return memory
    url = request.getfixturevalue("redis_url")
    return lambda ttl: RedisNonceStore.from_url(url, ttl_s=ttl)


def refused(store: NonceBackend, nonce: Any) -> str:
    with pytest.raises(AuthTokenError) as e:
        store.consume(nonce)
    return e.value.reason


def test_issue_consume_once(make_store: StoreFactory) -> None:
    store = make_store(60)
    a, b = store.issue(), store.issue()
    assert a != b and len(a) == 44
    store.consume(a)
    assert refused(store, a) == "nonce-unknown"
    make_store(60).consume(b)  # another server of the platform (same backend) accepts it once
    assert refused(make_store(60), b) == "nonce-unknown"
    for bad in ("", "x" * 10_000, "not issued", None):
        assert refused(store, bad) == "nonce-unknown"


def test_expiry(make_store: StoreFactory) -> None:
    store = make_store(0.3)
    nonce = store.issue()
    time.sleep(0.5)
    assert refused(store, nonce) in {"nonce-unknown", "nonce-expired"}


def test_many_consumers_race_one_winner_per_nonce(make_store: StoreFactory) -> None:
    stores = [make_store(60) for _ in range(4)]  # four web servers, each its own connection
    nonces = [stores[0].issue() for _ in range(150)]
    wins = [0] * len(nonces)
    lock = threading.Lock()
    barrier = threading.Barrier(len(stores))

    def worker(store: NonceBackend) -> None:
        barrier.wait()
        for i, n in enumerate(nonces):
            try:
                store.consume(n)
            except AuthTokenError:
                continue
            with lock:
                wins[i] += 1

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert wins == [1] * len(nonces)


def test_two_validators_race_on_one_token(
    redis_url: str, pki: DevPki, cli_env: dict[str, str], softhsm_module: str
) -> None:
    """Two web servers (two validators, two Redis connections) receive the same token at once."""
    issuer = RedisNonceStore.from_url(redis_url)
    nonce = issuer.issue()
    token = make_token(cli_env, softhsm_module, "auth-ec256", nonce)
    validators = [validator(pki, RedisNonceStore.from_url(redis_url)) for _ in range(2)]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt(v: Any) -> None:
        barrier.wait()
        try:
            v.validate(token, nonce)
            outcomes.append("ok")
        except AuthTokenError as e:
            outcomes.append(e.reason)

    threads = [threading.Thread(target=attempt, args=(v,)) for v in validators]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["nonce-unknown", "ok"]


def test_redis_keys_are_digests_and_expire(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = RedisNonceStore(client, ttl_s=120, prefix="t:")
    nonce = store.issue()
    (key,) = client.keys("t:*")
    assert nonce not in key and len(key) == 2 + 64
    assert 0 < client.pttl(key) <= 120_000
    with pytest.raises(ValueError):
        RedisNonceStore(client, ttl_s=0)
