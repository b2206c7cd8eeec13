"""Bounded, seeded property-based fuzzing of the parsers a page or a hostile file reaches (hypothesis,
`derandomize=True`: the same examples on every run, so CI is reproducible). Each property: bad input
raises `SceauError` (a wire code), never another exception, never a hang. Crashes found here become
named regression tests below the fuzzers."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sceau.crypto.ber import BerReader, walk
from sceau.crypto.cms_decrypt import read_envelope
from sceau.crypto.zipinfo import list_zip
from sceau.errors import SceauError
from sceau.formats import xmlsafe
from sceau.formats.verify import VerifyOptions, detect, verify_bytes
from sceau.protocol import messages
from sceau.protocol.framing import FrameDecoder, decode_json, encode_frame
from tests.formats.pdfs import make_pdf

FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=4), max_size=6), st.data())
def test_framing_round_trips_in_any_split(msgs: list[dict[str, object]], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(m) for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = FrameDecoder(1 << 20)
    bodies: list[bytes] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        bodies += decoder.feed(stream[last:cut])
        last = cut
    assert [json.loads(b) for b in bodies] == msgs
    assert decoder.pending == 0


@FUZZ
@given(st.binary(max_size=64))
def test_framing_never_crashes_on_garbage(data: bytes) -> None:
    decoder = FrameDecoder(1024)
    try:
        for body in decoder.feed(data):
            with contextlib.suppress(SceauError):
                decode_json(body)
    except SceauError:
        pass


@FUZZ
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
def test_message_parser_maps_everything_to_codes(body: bytes) -> None:
    with contextlib.suppress(SceauError):
        messages.parse_request(decode_json(body))


@FUZZ
@given(st.dictionaries(st.sampled_from(["v", "id", "cmd", "args", "origin"]), json_values, max_size=5))
def test_request_fields_of_any_type(obj: dict[str, object]) -> None:
    try:
        req = messages.parse_request(obj)
    except SceauError:
        return
    assert isinstance(req.args, dict) and isinstance(req.id, str)


def ber_walk(data: bytes) -> None:
    reader = BerReader(io.BytesIO(data), size=len(data), buffer_size=64)
    for _event in walk(reader):
        pass


@FUZZ
@given(st.binary(max_size=300))
def test_ber_reader_never_crashes(data: bytes) -> None:
    with contextlib.suppress(SceauError):
        ber_walk(data)


# Structured BER: nested tags with (possibly lying) lengths, indefinite forms and EOCs.
ber_parts = st.lists(
    st.sampled_from([b"\x30\x80", b"\x24\x80", b"\x04\x03abc", b"\x00\x00", b"\x30\x84\xff\xff\xff\xff", b"\xa0\x02"])
    | st.binary(max_size=6),
    max_size=40,
).map(b"".join)


@FUZZ
@given(ber_parts)
def test_ber_structures_and_cms_envelope_reader(data: bytes) -> None:
    for fn in (ber_walk, lambda d: read_envelope(io.BytesIO(d), len(d))):
        with contextlib.suppress(SceauError):
            fn(data)


xml_docs = st.one_of(
    st.binary(max_size=200),
    st.lists(
        st.sampled_from(
            [
                "<a>",
                "</a>",
                "<b x='1'>",
                "</b>",
                "<!DOCTYPE a>",
                "<!ENTITY e 'x'>",
                "&e;",
                "&amp;",
                "<![CDATA[x]]>",
                "<?xml version='1.0'?>",
                "\x00",
                "é",
                "<!-- c -->",
            ]
        ),
        max_size=20,
    ).map(lambda parts: "".join(parts).encode()),
)


@FUZZ
@given(xml_docs)
def test_xml_hardening(data: bytes) -> None:
    try:
        tree = xmlsafe.parse_xml(data)
    except SceauError:
        return
    assert tree.docinfo.internalDTD is None  # nothing with a DTD ever gets through


PDF = make_pdf()


@settings(FUZZ, max_examples=100)
@given(st.lists(st.tuples(st.integers(0, len(PDF) - 1), st.binary(min_size=1, max_size=8)), max_size=6))
def test_pdf_verify_entry_point(patches: list[tuple[int, bytes]]) -> None:
    data = bytearray(PDF)
    for at, chunk in patches:
        data[at : at + len(chunk)] = chunk
    try:
        detect(bytes(data))
        asyncio.run(verify_bytes(bytes(data), "f.pdf", VerifyOptions()))
    except SceauError:
        pass


def _zip_bytes(names: list[str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, name in enumerate(names):
            zf.writestr(name or f"f{i}", b"x" * i)
    return buf.getvalue()


@settings(FUZZ, max_examples=150)
@given(
    st.lists(st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=12), max_size=5, unique=True),
    st.lists(st.tuples(st.integers(0, 400), st.binary(min_size=1, max_size=4)), max_size=4),
)
def test_zip_listing(names: list[str], patches: list[tuple[int, bytes]]) -> None:
    import tempfile

    data = bytearray(_zip_bytes(names))
    for at, chunk in patches:
        if at < len(data):
            data[at : at + len(chunk)] = chunk
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "a.zip"
        path.write_bytes(bytes(data))
        try:
            listing = list_zip(path)
        except SceauError:
            return
        assert listing["count"] >= 0 and isinstance(listing["safe"], bool)


PAGE_COMMANDS = ["hello", "list-certificates", "verify", "upload-chunk", "fetch-chunk", "encrypt", "decrypt"]


ARG_NAMES = [
    "document",
    "data",
    "transfer",
    "name",
    "index",
    "final",
    "role",
    "includeExpired",
    "recipients",
    "mode",
    "certificate",
    "detached",
    "detachedName",
    "language",
    "cipher",
]
arg_values = json_values | st.fixed_dictionaries(
    {}, optional={"data": st.text(max_size=40) | st.just("JVBERi0xLjcK"), "transfer": st.text(max_size=8)}
)


@settings(FUZZ, max_examples=300)
@given(
    st.sampled_from(PAGE_COMMANDS),
    st.dictionaries(st.sampled_from(ARG_NAMES) | st.text(max_size=6), arg_values, max_size=4),
)
def test_the_dispatcher_never_answers_internal(cmd: str, args: dict[str, object]) -> None:
    """Any arguments to any page command: a wire code the page can act on, never INTERNAL."""
    from sceau.app import Agent
    from sceau.config import Config
    from sceau.tokens.registry import TokenManager
    from sceau.ui.headless import HeadlessUI

    agent = Agent(Config(), TokenManager([]), HeadlessUI())
    try:
        request = {"v": 1, "id": "f", "cmd": cmd, "origin": "https://a.fr", "args": args}
        resp = asyncio.run(agent.handle(request))
    finally:
        agent.close()
    assert resp["ok"] or resp["error"]["code"] != "INTERNAL", (request, resp)
