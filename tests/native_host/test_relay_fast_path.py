"""Document chunks cross the native host unparsed: same bytes out, requests still tracked."""

from __future__ import annotations

import base64
import os

from sceau.protocol.framing import encode_frame
from sceau.protocol.messages import ok
from sceau_native_host.relay import FAST_PATH_MIN, Relay


def test_large_frames_are_relayed_byte_for_byte_and_tracked() -> None:
    relay = Relay(64 << 20)
    data = base64.b64encode(os.urandom(FAST_PATH_MIN)).decode()
    upload = encode_frame({"v": 1, "id": "u1", "cmd": "upload-chunk", "origin": "https://a.fr", "args": {"data": data}})
    to_agent, reply = relay.from_browser(upload[4:])
    assert to_agent == upload and reply is None
    assert relay.pending == 1
    fetched = encode_frame(ok("u1", {"index": 0, "data": data}))
    assert relay.from_agent(fetched[4:]) == [fetched]
    assert relay.pending == 0  # the final response ended the request
    event = encode_frame({"v": 1, "id": "u2", "event": {"progress": data}})
    relay.from_browser(encode_frame({"v": 1, "id": "u2", "cmd": "decrypt", "args": {}})[4:])
    assert relay.from_agent(event[4:]) == [event] and relay.pending == 1  # an event does not end it
    assert [f[4:] for f in relay.agent_lost()] != []


def test_large_frames_of_another_shape_are_parsed_as_before() -> None:
    relay = Relay(64 << 20)
    odd = b'{"id":"x","v":1,"cmd":"hello","args":{"pad":"' + b"a" * FAST_PATH_MIN + b'"}}'
    to_agent, reply = relay.from_browser(odd)
    assert to_agent is not None and reply is None and relay.pending == 1
    garbage = b"{" * FAST_PATH_MIN
    to_agent, reply = relay.from_browser(garbage)
    assert to_agent is None and reply is not None and b"BAD_REQUEST" in reply
