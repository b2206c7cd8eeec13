"""Message model and validation for wire protocol version 1 (DESIGN.md §3). No I/O."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sceau.errors import BadRequest, SceauError, TooLarge, Unsupported
from sceau.protocol.codes import PROTOCOL_VERSION, Command, ErrorCode

MAX_ID_LENGTH = 128
JSON = dict[str, Any]


@dataclass(frozen=True)
class Request:
    v: int
    id: str
    cmd: str
    args: JSON
    origin: str | None


def request_id_of(obj: object) -> str | None:
    """The request id if the message has a usable one (so even a bad request gets a correlated error)."""
    if isinstance(obj, dict):
        rid = obj.get("id")
        if isinstance(rid, str) and 0 < len(rid) <= MAX_ID_LENGTH:
            return rid
    return None


def parse_request(obj: object) -> Request:
    """Validate a decoded message. Raises BadRequest / Unsupported with a precise reason."""
    if not isinstance(obj, dict):
        raise BadRequest("Message must be a JSON object.", params={})
    v = obj.get("v")
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadRequest("Field 'v' (protocol version) must be an integer.", params={})
    if v != PROTOCOL_VERSION:
        raise Unsupported(
            "Protocol version {version} is not supported (this agent speaks {supported}).",
            params={"version": v, "supported": PROTOCOL_VERSION},
        )
    rid = obj.get("id")
    if not isinstance(rid, str) or not 0 < len(rid) <= MAX_ID_LENGTH:
        raise BadRequest(
            "Field 'id' must be a non-empty string of at most {max} characters.", params={"max": MAX_ID_LENGTH}
        )
    cmd = obj.get("cmd")
    if not isinstance(cmd, str) or not cmd:
        raise BadRequest("Field 'cmd' must be a non-empty string.", params={})
    if cmd not in names(Command):
        raise Unsupported("Unknown command: {cmd}", params={"cmd": cmd[:40]})
    args = obj.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise BadRequest("Field 'args' must be an object.", params={})
    origin = obj.get("origin")
    if origin is not None and not isinstance(origin, str):
        raise BadRequest("Field 'origin' must be a string.", params={})
    return Request(v, rid, cmd, args, origin)


def ok(request_id: str | None, result: JSON) -> JSON:
    return {"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result}


def error(request_id: str | None, code: ErrorCode, message: str) -> JSON:
    return {"v": PROTOCOL_VERSION, "id": request_id, "ok": False, "error": {"code": code.value, "message": message}}


def event(request_id: str, payload: JSON) -> JSON:
    return {"v": PROTOCOL_VERSION, "id": request_id, "event": payload}


def notification(payload: JSON) -> JSON:
    return {"v": PROTOCOL_VERSION, "notify": payload}


def error_body(exc: BaseException) -> JSON:
    """THE place where exceptions become wire errors (`{"code", "message"}`): for a response, and for
    each failed item of a batch. Unknown exceptions never leak their text."""
    if isinstance(exc, SceauError):
        code = exc.code if isinstance(exc.code, ErrorCode) else ErrorCode.INTERNAL
        return {"code": code.value, "message": exc.message}
    return {"code": ErrorCode.INTERNAL.value, "message": "Internal error in the Sceau agent; see its journal."}


def error_from_exception(request_id: str | None, exc: BaseException) -> JSON:
    """An error response for `exc` (see `error_body`)."""
    return {"v": PROTOCOL_VERSION, "id": request_id, "ok": False, "error": error_body(exc)}


def too_large_request(request_id: str | None, length: int, limit: int) -> JSON:
    """TOO_LARGE for a request refused by its declared length (the relay's and the browser pipes')."""
    exc = TooLarge(
        "Request of {length} bytes exceeds the limit of {limit} bytes.", params={"length": length, "limit": limit}
    )
    return error_from_exception(request_id, exc)


# --- argument helpers shared by handlers (validation lives in the core) -------------------------


def arg_str(args: JSON, name: str, *, required: bool = True, max_len: int = 4096, default: str | None = None) -> str:
    value = args.get(name, default)
    if value is None:
        if required:
            raise BadRequest("Missing argument '{name}'.", params={"name": name})
        return ""
    if not isinstance(value, str):
        raise BadRequest("Argument '{name}' must be a string.", params={"name": name})
    if len(value) > max_len:
        raise BadRequest("Argument '{name}' is too long.", params={"name": name})
    return value


@functools.cache
def names(members: Iterable[Enum]) -> frozenset[str]:
    """The wire values of an enum (or a tuple of its members), computed once: iterating an enum
    per request cost more than the rest of parsing."""
    return frozenset(str(m.value) for m in members)


def arg_choice(args: JSON, name: str, choices: set[str] | frozenset[str], default: str | None = None) -> str | None:
    value = args.get(name, default)
    if value is None:
        return None
    if not isinstance(value, str) or value not in choices:
        raise BadRequest(
            "Argument '{name}' must be one of: {choices}.", params={"name": name, "choices": ", ".join(sorted(choices))}
        )
    return value


def arg_b64(args: JSON, name: str, *, max_bytes: int, min_bytes: int = 0, urlsafe_ok: bool = True) -> bytes:
    """Decode a base64 (standard or URL-safe, padding optional) argument with size bounds."""
    import base64
    import binascii

    text = arg_str(args, name, max_len=max_bytes * 2 + 8)
    cleaned = text.strip()
    if urlsafe_ok:
        cleaned = cleaned.replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        data = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Argument '{name}' is not valid base64.", params={"name": name}) from None
    if len(data) < min_bytes:
        raise BadRequest("Argument '{name}' must be at least {min} bytes.", params={"name": name, "min": min_bytes})
    if len(data) > max_bytes:
        raise BadRequest("Argument '{name}' must be at most {max} bytes.", params={"name": name, "max": max_bytes})
    return data
