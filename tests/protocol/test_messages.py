"""Message parsing: valid requests, every malformed shape, and property tests."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sceau.errors import BadRequest, SceauError, TooLarge, Unsupported
from sceau.protocol import messages
from sceau.protocol.codes import Command, ErrorCode, export
from sceau.protocol.framing import FrameDecoder, decode_json, encode_frame


def test_valid_request() -> None:
    req = messages.parse_request({"v": 1, "id": "a1", "cmd": "hello", "origin": "https://x.fr"})
    assert (req.cmd, req.args, req.origin) == ("hello", {}, "https://x.fr")


@pytest.mark.parametrize(
    ("obj", "exc"),
    [
        ([], BadRequest),
        ({"id": "a", "cmd": "hello"}, BadRequest),
        ({"v": "1", "id": "a", "cmd": "hello"}, BadRequest),
        ({"v": True, "id": "a", "cmd": "hello"}, BadRequest),
        ({"v": 2, "id": "a", "cmd": "hello"}, Unsupported),
        ({"v": 1, "cmd": "hello"}, BadRequest),
        ({"v": 1, "id": "", "cmd": "hello"}, BadRequest),
        ({"v": 1, "id": "x" * 129, "cmd": "hello"}, BadRequest),
        ({"v": 1, "id": 5, "cmd": "hello"}, BadRequest),
        ({"v": 1, "id": "a"}, BadRequest),
        ({"v": 1, "id": "a", "cmd": "rm -rf"}, Unsupported),
        ({"v": 1, "id": "a", "cmd": "hello", "args": [1]}, BadRequest),
        ({"v": 1, "id": "a", "cmd": "hello", "origin": 3}, BadRequest),
    ],
)
def test_malformed_requests(obj: object, exc: type[SceauError]) -> None:
    with pytest.raises(exc):
        messages.parse_request(obj)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=20,
    )
)
def test_parser_never_crashes(obj: object) -> None:
    """Any JSON value either parses or raises one of our errors with a wire code."""
    try:
        req = messages.parse_request(obj)
    except SceauError as exc:
        assert exc.code in (ErrorCode.BAD_REQUEST, ErrorCode.UNSUPPORTED)
        resp = messages.error_from_exception(messages.request_id_of(obj), exc)
        assert resp["ok"] is False and resp["error"]["code"] in {c.value for c in ErrorCode}
    else:
        assert req.cmd in {c.value for c in Command}


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["v", "id", "cmd", "args", "origin", "x"]),
        st.one_of(st.integers(), st.text(max_size=10), st.none(), st.just({}), st.just(1)),
    )
)
def test_parser_on_near_valid_dicts(obj: dict[str, object]) -> None:
    with contextlib.suppress(SceauError):
        messages.parse_request(obj)


def test_unknown_exception_does_not_leak() -> None:
    resp = messages.error_from_exception("id", RuntimeError("secret /home/path"))
    assert resp["error"]["code"] == "INTERNAL"
    assert "secret" not in resp["error"]["message"]


def test_framing_round_trip_and_partial_feed() -> None:
    frames = encode_frame({"a": 1}) + encode_frame({"b": "é" * 10})
    dec = FrameDecoder(1000)
    out = []
    for i in range(len(frames)):
        out += dec.feed(frames[i : i + 1])
    assert [decode_json(b) for b in out] == [{"a": 1}, {"b": "é" * 10}]
    assert dec.pending == 0


def test_framing_rejects_huge_declared_length_before_buffering() -> None:
    dec = FrameDecoder(1024)
    with pytest.raises(TooLarge):
        dec.feed(b"\xff\xff\xff\x7f")


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe", b"[1,2]", b'"str"', b"{" * 10000])
def test_decode_json_rejects_non_objects(body: bytes) -> None:
    with pytest.raises(BadRequest):
        decode_json(body)


def test_truncated_frame_is_pending() -> None:
    dec = FrameDecoder(100)
    assert dec.feed(encode_frame({"a": 1})[:-2]) == []
    assert dec.pending > 0


def test_protocol_json_is_generated_from_codes() -> None:
    """The extension's copy must equal the generated one (run `make protocol-json`)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "extension" / "lib" / "protocol.json"
    if not path.exists():
        pytest.fail("extension/lib/protocol.json is missing: run `make protocol-json`")
    generated = json.loads(path.read_text())
    expected = json.loads(json.dumps(export()))
    assert {k: generated[k] for k in expected} == expected  # plus the handlers' permission rules
