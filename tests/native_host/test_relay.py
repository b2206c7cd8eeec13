"""Relay core: chunking of large replies, pending requests answered when the agent dies."""

from __future__ import annotations

import io
import json
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from sceau.protocol.framing import chunk_frames, encode_frame, recover_id
from sceau_native_host.__main__ import caller_allowed
from sceau_native_host.manifests import DEV_EXTENSION_ID
from sceau_native_host.relay import Relay, read_browser_frame


def reassemble(frames: list[bytes]) -> dict[str, object]:
    bodies = [json.loads(f[4:]) for f in frames]
    if "chunk" not in bodies[0]:
        return bodies[0]
    return json.loads("".join(b["chunk"]["data"] for b in bodies))


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=0, max_size=3000))
def test_chunks_rebuild_the_message_exactly(text: str) -> None:
    message = {"v": 1, "id": "r", "ok": True, "result": {"t": text}}
    body = json.dumps(message, ensure_ascii=False).encode()
    frames = chunk_frames(body, "r", limit=700)
    assert all(len(f) - 4 <= 700 for f in frames)
    assert reassemble(frames) == message


def test_small_messages_pass_unchanged() -> None:
    body = b'{"v":1,"id":"a","ok":true,"result":{}}'
    assert chunk_frames(body, "a", limit=1024) == [struct.pack("<I", len(body)) + body]


def test_pending_requests_get_an_error_when_the_agent_is_lost() -> None:
    relay = Relay(1024)
    relay.from_browser(b'{"v":1,"id":"a","cmd":"sign-hash"}')
    relay.from_browser(b'{"v":1,"id":"b","cmd":"hello"}')
    relay.from_agent(b'{"v":1,"id":"b","ok":true,"result":{}}')
    relay.from_agent(b'{"v":1,"id":"a","event":{"n":1}}')  # an event does not end the request
    errors = [json.loads(f[4:]) for f in relay.agent_lost()]
    assert [(e["id"], e["error"]["code"]) for e in errors] == [("a", "INTERNAL")]
    assert relay.pending == 0


def test_oversized_frame_is_skipped_and_named() -> None:
    big = json.dumps({"v": 1, "id": "z1", "args": {"p": "x" * 5000}}).encode()
    stream = io.BytesIO(struct.pack("<I", len(big)) + big + encode_frame({"v": 1, "id": "next"}))
    body, refusal = read_browser_frame(stream, 1000)
    assert body is None and refusal is not None
    assert json.loads(refusal[4:])["id"] == "z1"
    body, refusal = read_browser_frame(stream, 1000)
    assert refusal is None and body is not None and json.loads(body)["id"] == "next"


def test_recover_id() -> None:
    assert recover_id(b'{"v":1,"id":"abc","cmd"') == "abc"
    assert recover_id(b'{"v":1,"cmd":"x"') is None


def test_caller_check() -> None:
    assert caller_allowed([f"chrome-extension://{DEV_EXTENSION_ID}/"])
    assert not caller_allowed(["chrome-extension://bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/"])
    assert caller_allowed(["/x/fr.sceau.agent.json", "extension@sceau.fr"])
    assert not caller_allowed(["/x/fr.sceau.agent.json", "evil@example.com"])
    assert not caller_allowed([])
