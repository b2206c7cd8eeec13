"""The streaming BER reader: property tests (hypothesis) against an independent encoder, and hostile headers."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sceau.crypto.ber import BerError, BerReader, iter_octets, walk


@dataclass(frozen=True)
class Node:
    tag: int  # context-specific tag number for constructed nodes, universal 4 for leaves
    children: tuple[Node, ...] | None  # None: primitive leaf
    data: bytes = b""


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode(node: Node, indefinite: list[bool]) -> bytes:
    """Reference encoder: each constructed node picks definite/indefinite from the `indefinite` list."""
    if node.children is None:
        return b"\x04" + _len(len(node.data)) + node.data
    body = b"".join(encode(c, indefinite) for c in node.children)
    ident = bytes([0xA0 | node.tag]) if node.tag < 31 else bytes([0xBF, node.tag])
    use_indef = indefinite.pop() if indefinite else False
    return ident + (b"\x80" + body + b"\x00\x00" if use_indef else _len(len(body)) + body)


def decode(data: bytes) -> Node:
    """Rebuild the tree from `walk` events."""
    stack: list[list[Node]] = [[]]
    pending: bytes = b""
    for ev in walk(BerReader(io.BytesIO(data), size=len(data), buffer_size=64)):
        if ev.kind == "start" and ev.header.constructed:
            stack.append([])
        elif ev.kind == "data":
            pending = ev.data
        elif ev.kind == "end":
            if ev.header.constructed:
                kids = stack.pop()
                stack[-1].append(Node(ev.header.tag, tuple(kids)))
            else:
                stack[-1].append(Node(ev.header.tag, None, pending))
    assert len(stack) == 1 and len(stack[0]) == 1
    return stack[0][0]


leaves = st.builds(lambda d: Node(4, None, d), st.binary(max_size=300))
trees = st.recursive(
    leaves,
    lambda kids: st.builds(
        lambda t, c: Node(t, tuple(c)), st.sampled_from([0, 1, 2, 5, 30, 31, 100]), st.lists(kids, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees, st.lists(st.booleans(), max_size=40))
def test_walk_roundtrip(tree: Node, indef: list[bool]) -> None:
    data = encode(tree, list(indef))
    assert decode(data) == tree


def flatten(node: Node) -> bytes:
    if node.children is None:
        return node.data
    return b"".join(flatten(c) for c in node.children)


def octet_tree(node: Node) -> Node:
    """Constructed OCTET STRING shape: every constructed node tagged as universal 4 (0x24)."""
    return node if node.children is None else Node(4, tuple(octet_tree(c) for c in node.children))


def encode_octets(node: Node, indefinite: list[bool]) -> bytes:
    if node.children is None:
        return b"\x04" + _len(len(node.data)) + node.data
    body = b"".join(encode_octets(c, indefinite) for c in node.children)
    return b"\x24" + (
        b"\x80" + body + b"\x00\x00" if (indefinite.pop() if indefinite else False) else _len(len(body)) + body
    )


@settings(max_examples=300, deadline=None)
@given(trees, st.lists(st.booleans(), max_size=40), st.sampled_from([16, 64, 4096]))
def test_iter_octets_concatenates_chunks(tree: Node, indef: list[bool], buffer_size: int) -> None:
    data = encode_octets(octet_tree(tree), list(indef))
    r = BerReader(io.BytesIO(data), size=len(data), buffer_size=buffer_size)
    header = r.read_header()
    got = b"".join(bytes(c) for c in iter_octets(r, header))
    assert got == flatten(tree)
    assert r.at_eof()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_raises_only_ber_errors(data: bytes) -> None:
    r = BerReader(io.BytesIO(data), size=len(data), buffer_size=32)
    try:
        for _ev in walk(r):
            pass
    except BerError:
        pass


@settings(max_examples=200, deadline=None)
@given(trees, st.lists(st.booleans(), max_size=40), st.data())
def test_truncation_is_detected(tree: Node, indef: list[bool], data: st.DataObject) -> None:
    encoded = encode(tree, list(indef))
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(BerError):
        for _ev in walk(BerReader(io.BytesIO(encoded[:cut]), buffer_size=64)):
            pass


@pytest.mark.parametrize(
    "data",
    [
        b"\x04\x89" + b"\xff" * 9,  # nine length octets
        b"\x04\x88\x7f\xff\xff\xff\xff\xff\xff\xff",  # 2^63 bytes declared
        b"\x30\x84\xff\xff\xff\xff\x04\x00",  # longer than the stream
        b"\x04\x80\x00\x00",  # primitive with indefinite length
        b"\x30\x03\x04\x05abcde",  # child longer than its parent
        b"\x1f\xff\xff\xff\xff\x7f\x00",  # absurd tag number
        b"\x30\x80" + b"\x30\x80" * 5,  # unterminated nested indefinite lengths
    ],
)
def test_hostile_headers(data: bytes) -> None:
    with pytest.raises(BerError):
        for _ev in walk(BerReader(io.BytesIO(data), size=len(data))):
            pass


def test_deep_nesting_is_bounded() -> None:
    data = b"\x30\x80" * 10_000 + b"\x00\x00" * 10_000
    with pytest.raises(BerError):
        for _ev in walk(BerReader(io.BytesIO(data), size=len(data))):
            pass
    octets = b"\x24\x80" * 10_000 + b"\x00\x00" * 10_000
    r = BerReader(io.BytesIO(octets), size=len(octets))
    with pytest.raises(BerError):
        for _c in iter_octets(r, r.read_header()):
            pass


def test_read_element_caps_size() -> None:
    data = b"\x30\x80" + b"\x04\x10" + b"a" * 16 + b"\x00\x00"
    assert BerReader(io.BytesIO(data)).read_element(100) == data
    with pytest.raises(BerError):
        BerReader(io.BytesIO(data)).read_element(10)
