"""Origins as the browser reports them: validation, normalisation, display."""

from __future__ import annotations

import functools
import ipaddress
import re

from sceau.errors import BadRequest, OriginNotAllowed

# Used with fullmatch: "$" alone would accept a trailing newline.
_ORIGIN_RE = re.compile(r"(https?)://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?")
DEV_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
# Second-level suffixes under which the registrable domain has three labels (French public sector first).
MULTI_LABEL_SUFFIXES = frozenset(
    {
        "gouv.fr",
        "asso.fr",
        "com.fr",
        "nom.fr",
        "presse.fr",
        "tm.fr",
        "co.uk",
        "gov.uk",
        "ac.uk",
        "com.br",
    }
)


def normalize_origin(origin: str, *, dev_mode: bool, max_length: int = 255) -> str:
    """Return the canonical origin (`https://host[:port]`, lower case, default port dropped).

    Only https is accepted; `http://localhost` / `http://127.0.0.1` only in dev mode.
    Anything else (paths, user info, `null`, file:, chrome-extension:) is refused.
    """
    if not isinstance(origin, str) or not origin or len(origin) > max_length:
        raise BadRequest("Missing or invalid origin.", params={})
    return _normalize(origin, dev_mode)


@functools.lru_cache(maxsize=256)  # each request checks its origin twice; refusals raise, so are not kept
def _normalize(origin: str, dev_mode: bool) -> str:
    m = _ORIGIN_RE.fullmatch(origin)
    if m is None:
        raise OriginNotAllowed("Origin not allowed: only https sites can use Sceau.", params={})
    scheme, host, port = m.group(1), m.group(2).lower(), m.group(3)
    if host.startswith(".") or host.endswith(".") or ".." in host:
        raise OriginNotAllowed("Origin not allowed: invalid host name.", params={})
    if port is not None and not 0 < int(port) < 65536:
        raise OriginNotAllowed("Origin not allowed: invalid port.", params={})
    if scheme == "http" and not (dev_mode and host in DEV_HOSTS):
        raise OriginNotAllowed("Origin not allowed: the site must use https.", params={})
    default = "443" if scheme == "https" else "80"
    suffix = f":{port}" if port and port != default else ""
    return f"{scheme}://{host}{suffix}"


def host_of(origin: str) -> str:
    rest = origin.split("://", 1)[-1]
    if rest.startswith("["):
        return rest[: rest.index("]") + 1]
    return rest.split(":", 1)[0]


def registrable_domain(origin: str) -> str:
    """The part of the host a user should read (emphasised in the consent dialog)."""
    host = host_of(origin)
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    labels = host.split(".")
    if len(labels) >= 3 and ".".join(labels[-2:]) in MULTI_LABEL_SUFFIXES:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])
