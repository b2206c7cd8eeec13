"""The per-connection session both transports use: in-flight cap, rate, id recovery, channels."""

from __future__ import annotations

import json

import pytest

from sceau.errors import Busy
from sceau.protocol.session import IPC, WEBSOCKET, Session, TokenBucket, request_id


def test_in_flight_cap_answers_busy_until_a_request_ends() -> None:
    s = Session(max_in_flight=2)
    s.admit()
    s.admit()
    with pytest.raises(Busy) as info:
        s.admit()
    assert info.value.code.value == "BUSY"
    assert s.in_flight == 2
    s.release()
    s.admit()  # room again
    assert s.in_flight == 2


def test_rate_limit_is_part_of_the_session() -> None:
    now = [0.0]
    s = Session(WEBSOCKET, origin="https://a.fr", rate=TokenBucket(1.0, 2, clock=lambda: now[0]))
    s.admit()
    s.release()
    s.admit()
    s.release()
    with pytest.raises(Busy, match="slow down"):
        s.admit()
    now[0] = 1.0
    s.admit()


def test_refusal_keeps_the_request_id_when_it_can() -> None:
    body = json.dumps({"v": 1, "id": "r-7", "cmd": "hello"}).encode()
    refusal = Session.refusal(body, Busy("Too many requests in flight on this connection."))
    assert refusal == {
        "v": 1,
        "id": "r-7",
        "ok": False,
        "error": {"code": "BUSY", "message": "Too many requests in flight on this connection."},
    }
    assert request_id(b"not json") is None
    assert request_id("[1, 2]") is None
    assert request_id("[" * 100_000) is None  # deeply nested: no RecursionError
    assert request_id(json.dumps({"id": "x" * 500})) is None  # an id too long is not an id


def test_channels_state_their_policy() -> None:
    assert not IPC.origin_from_transport and not IPC.page_commands_only and not IPC.asks_first_use
    assert WEBSOCKET.origin_from_transport and WEBSOCKET.page_commands_only and WEBSOCKET.asks_first_use
    assert Session().channel is IPC and Session().subscribed is False


def test_each_origin_on_a_shared_connection_has_its_own_rate() -> None:
    """The extension multiplexes every site on one connection: a site over its rate gets BUSY, the
    others are still admitted, and the bucket refills with time."""
    now = [0.0]
    s = Session(IPC, origin_rate=lambda: TokenBucket(1.0, 3, clock=lambda: now[0]))
    for _ in range(3):
        s.admit_origin("https://bruyant.fr")
        s.release_origin("https://bruyant.fr")
    with pytest.raises(Busy) as info:
        s.admit_origin("https://bruyant.fr")
    assert info.value.code.value == "BUSY"
    s.admit_origin("https://calme.fr")  # another site is not affected
    now[0] += 1.0
    s.admit_origin("https://bruyant.fr")  # refilled
