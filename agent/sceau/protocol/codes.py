"""The page-visible error codes, command names, roles and operation classes, defined once.

`python -m sceau.protocol.codes` prints them with the shared constants (`constants.py`) as JSON;
`extension/tools/gen_protocol.py` adds the per-command permission table and writes the files the
extension and `sceau.js` import, so JavaScript never retypes a code, a name or a size.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum

from sceau.protocol import constants

PROTOCOL_VERSION = 1


class ErrorCode(StrEnum):
    """Small, stable set of codes a page may see."""

    USER_CANCELLED = "USER_CANCELLED"
    ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"
    NO_TOKEN = "NO_TOKEN"
    NO_CERTIFICATE = "NO_CERTIFICATE"
    PIN_LOCKED = "PIN_LOCKED"
    TOKEN_REMOVED = "TOKEN_REMOVED"
    BAD_REQUEST = "BAD_REQUEST"
    TOO_LARGE = "TOO_LARGE"
    UNSUPPORTED = "UNSUPPORTED"
    BUSY = "BUSY"
    TIMEOUT = "TIMEOUT"
    NOT_A_RECIPIENT = "NOT_A_RECIPIENT"
    INVALID_INPUT = "INVALID_INPUT"
    INTERNAL = "INTERNAL"
    # The Sceau application is not running and could not be started (native host), or the loopback
    # WebSocket is unreachable (sceau.js); LOCAL_NETWORK_DENIED: the browser's Local Network Access
    # permission blocks the loopback WebSocket for this site.
    AGENT_UNAVAILABLE = "AGENT_UNAVAILABLE"
    LOCAL_NETWORK_DENIED = "LOCAL_NETWORK_DENIED"


class Command(StrEnum):
    """Commands of wire protocol version 1."""

    HELLO = "hello"
    LIST_CERTIFICATES = "list-certificates"
    AUTHENTICATE = "authenticate"
    SIGN_HASH = "sign-hash"
    SIGN_DOCUMENTS = "sign-documents"
    DECRYPT = "decrypt"
    ENCRYPT = "encrypt"
    VERIFY = "verify"
    # Transfer of payloads larger than one message (see sceau.store.transfers).
    UPLOAD_CHUNK = "upload-chunk"
    FETCH_CHUNK = "fetch-chunk"
    # Extension-only commands: the background refuses them from pages; the agent only accepts
    # them on the native (IPC) transport.
    SITE_GRANT = "site-grant"
    SITE_REVOKE = "site-revoke"
    SITE_LIST = "site-list"
    SUBSCRIBE = "subscribe"
    # Signatures over digests a platform computed (LiberSign-compatible pages).
    SIGN_DIGESTS = "sign-digests"
    # Decrypt a bid into a file the user picks in the agent's save dialog (the page gets the report).
    DECRYPT_TO_FILE = "decrypt-to-file"


# Commands a web page may send (the extension forwards nothing else).
PAGE_COMMANDS = frozenset(
    {
        Command.HELLO,
        Command.LIST_CERTIFICATES,
        Command.AUTHENTICATE,
        Command.SIGN_HASH,
        Command.SIGN_DOCUMENTS,
        Command.DECRYPT,
        Command.ENCRYPT,
        Command.VERIFY,
        Command.UPLOAD_CHUNK,
        Command.FETCH_CHUNK,
        Command.SUBSCRIBE,
        Command.SIGN_DIGESTS,
        Command.DECRYPT_TO_FILE,
    }
)


class Role(StrEnum):
    """What a certificate is for."""

    AUTH = "auth"
    SIGN = "sign"
    ENCRYPT = "encrypt"


class OperationKind(StrEnum):
    """Operation classes as the user sees them: first-use grants, consent, trusted sites, journal."""

    AUTHENTICATE = "authenticate"
    SIGN = "sign"
    DECRYPT = "decrypt"
    UNWRAP_KEY = "unwrap-key"
    ENCRYPT = "encrypt"
    LIST = "list"
    VERIFY = "verify"  # no key, but a page must still be allowed (its files are parsed)
    # Open the loopback WebSocket (pages without the extension): asked on the first connection.
    CONNECT = "connect"


def export() -> dict[str, object]:
    """The shared constants as a JSON-able mapping."""
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "errorCodes": [c.value for c in ErrorCode],
        "commands": {c.name: c.value for c in Command},
        "pageCommands": sorted(c.value for c in PAGE_COMMANDS),
        "roles": [r.value for r in Role],
        "operationKinds": [k.value for k in OperationKind],
        **constants.export(),
    }


def main() -> None:
    """Print the generated constants (JSON) on stdout."""
    json.dump(export(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
