"""Names and sizes shared by the agent, the native host, the extension and `sceau.js`, defined once.

`sceau.protocol.codes.export()` carries them into `extension/lib/protocol.json` / `protocol.js`, so no
JavaScript file, no native-host module and no example retypes them.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

# Native-messaging host name (manifests, `runtime.connectNative`).
HOST_NAME = "fr.sceau.agent"
# How the native host and the development harness start the agent: `python AGENT_LAUNCH… [args]`.
AGENT_LAUNCH = ("-m", "sceau.cli.agent", "agent")

MIB = 1 << 20
# Chrome caps host → extension messages at 1 MB and extension → host messages at 64 MiB.
BROWSER_MAX_INBOUND = MIB
BROWSER_MAX_OUTBOUND = 64 * MIB
# The native host splits an agent frame into chunk messages under the browser's cap, with a margin
# for the chunk envelope; the background accepts at most this many chunks for one reply.
HOST_CHUNK_LIMIT = BROWSER_MAX_INBOUND - 1024
MAX_HOST_CHUNKS = 4096
# Documents travel inline (base64 in the request or result) up to this size; beyond, as transfers.
INLINE_MAX = MIB
UPLOAD_CHUNK_MAX = 8 * MIB  # raw bytes of one upload-chunk (page → agent messages may reach 64 MiB)
DOWNLOAD_CHUNK = 512 << 10  # 512 KiB → ~700 KB of base64, under Chrome's 1 MB cap
# The agent stops an operation after this long (config `operation_timeout_s` default); the page and
# the extension wait that long plus a margin for a key operation.
OPERATION_TIMEOUT_S = 300.0
KEY_OPERATION_WAIT_MS = int(OPERATION_TIMEOUT_S * 1000) + 30_000


class ExitCode(IntEnum):
    """Exit statuses of the `sceau` commands (the native host and the demo read ALREADY_RUNNING)."""

    OK = 0
    INVALID = 1  # e.g. `sceau verify` on an invalid signature
    USAGE = 2
    ERROR = 3
    ALREADY_RUNNING = 4  # `sceau agent`: another agent holds the session lock
    UNREADABLE = 5  # `sceau verify`: the file could not be read or analysed (not "invalid signature")


class ExtensionMessage(StrEnum):
    """`type` of the messages between the extension's own parts (content script, pages, background)."""

    REQUEST = "sceau-request"  # content script → background: a page request
    EVENT = "sceau-event"  # background → content script: a partial result of a request
    NOTIFY = "sceau-notify"  # background → content script: token inserted/removed
    PERMISSION_INFO = "sceau-permission-info"  # permission page → background: what to ask
    PERMISSION_DECISION = "sceau-permission-decision"  # permission page → background: the answer
    OPTIONS = "sceau-options"  # options page → background
    LIBERSIGN_DETECTED = "sceau-libersign-detected"  # content script → background: a LiberSign page
    LIBERSIGN_INFO = "sceau-libersign-info"  # LiberSign prompt → background: which site
    LIBERSIGN_DECISION = "sceau-libersign-decision"  # LiberSign prompt → background: the answer


# The loopback WebSocket (pages without the extension): the port `sceau.js` tries by default (the
# agent listens when the config sets `websocket_port`), and the close codes that tell the page why.
WEBSOCKET_PORT = 35489  # docs/configuration.md uses it in its example
WS_CLOSE_ORIGIN_NOT_ALLOWED = 4003  # the user refused the site, or it is not in the allowed list
WS_CLOSE_IDLE = 4008  # nothing asked for a long time: the page reconnects when it needs to

# window.postMessage between sceau.js and the content script: `{[PAGE_TAG]: PageMessage, ...}`.
PAGE_TAG = "sceau"


class PageMessage(StrEnum):
    REQUEST = "request"
    RESPONSE = "response"
    PONG = "pong"
    EVENT = "event"
    NOTIFY = "notify"


def export() -> dict[str, object]:
    """These constants as JSON for the extension and the page library."""
    return {
        "hostName": HOST_NAME,
        "exitCodes": {c.name: c.value for c in ExitCode},
        "sizes": {
            "browserMaxInbound": BROWSER_MAX_INBOUND,
            "browserMaxOutbound": BROWSER_MAX_OUTBOUND,
            "hostChunkLimit": HOST_CHUNK_LIMIT,
            "maxHostChunks": MAX_HOST_CHUNKS,
            "inlineMax": INLINE_MAX,
            "uploadChunkMax": UPLOAD_CHUNK_MAX,
            "downloadChunk": DOWNLOAD_CHUNK,
        },
        "timeouts": {"keyOperationMs": KEY_OPERATION_WAIT_MS},
        "extensionMessages": {m.name: m.value for m in ExtensionMessage},
        "pageTag": PAGE_TAG,
        "pageMessages": {m.name: m.value for m in PageMessage},
        "websocket": {
            "port": WEBSOCKET_PORT,
            "closeOriginNotAllowed": WS_CLOSE_ORIGIN_NOT_ALLOWED,
            "closeIdle": WS_CLOSE_IDLE,
        },
    }
