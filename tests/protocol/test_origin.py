from __future__ import annotations

import pytest

from sceau.errors import BadRequest, OriginNotAllowed
from sceau.protocol.origin import normalize_origin, registrable_domain


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Marches.Example.FR", "https://marches.example.fr"),
        ("https://x.fr:443", "https://x.fr"),
        ("https://x.fr:8443", "https://x.fr:8443"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize_origin(raw, dev_mode=False) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "http://x.fr",
        "https://x.fr/path",
        "https://user@x.fr",
        "null",
        "file:///etc",
        "chrome-extension://abc",
        "https://x..fr",
        "https://x.fr:99999",
        "javascript:alert(1)",
        "https://x.fr/",
    ],
)
def test_refused(raw: str) -> None:
    with pytest.raises((OriginNotAllowed, BadRequest)):
        normalize_origin(raw, dev_mode=False)


def test_http_localhost_only_in_dev_mode() -> None:
    with pytest.raises(OriginNotAllowed):
        normalize_origin("http://localhost:8080", dev_mode=False)
    assert normalize_origin("http://localhost:8080", dev_mode=True) == "http://localhost:8080"
    with pytest.raises(OriginNotAllowed):
        normalize_origin("http://evil.fr", dev_mode=True)


def test_empty_and_long() -> None:
    with pytest.raises(BadRequest):
        normalize_origin("", dev_mode=False)
    with pytest.raises(BadRequest):
        normalize_origin("https://" + "a" * 300 + ".fr", dev_mode=False)


@pytest.mark.parametrize(
    ("origin", "domain"),
    [
        ("https://marches.achatpublic.com", "achatpublic.com"),
        ("https://www.marches-publics.gouv.fr", "marches-publics.gouv.fr"),
        ("https://127.0.0.1:8443", "127.0.0.1"),
    ],
)
def test_registrable_domain(origin: str, domain: str) -> None:
    assert registrable_domain(origin) == domain
