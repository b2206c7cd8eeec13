"""Entry point the browser starts: `sceau-native-host <caller>` with native messaging on stdio.

The browser passes the calling extension: `chrome-extension://ID/` (Chrome family) or
`<manifest path> <add-on id>` (Firefox). The host answers only our own extension, relays frames
to the agent (starting it when absent) and exits when the browser closes stdin.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import IO

from sceau.config import Config, load
from sceau.errors import SceauError, TooLarge
from sceau.protocol import messages
from sceau.protocol.codes import ErrorCode
from sceau.protocol.framing import FrameDecoder, encode_frame
from sceau.transports.browser_pipes import hand_over, wait_released
from sceau_native_host.manifests import CHROME_EXTENSION_IDS, FIREFOX_EXTENSION_IDS
from sceau_native_host.relay import AgentLink, AgentUnavailable, Relay, connect_or_start, read_browser_frame

log = logging.getLogger("sceau_native_host")


def caller_allowed(argv: list[str]) -> bool:
    """True when the browser says the caller is our extension (the manifest already restricts it;
    this also refuses a manifest edited or copied for another extension)."""
    if argv and argv[0].startswith("chrome-extension://"):
        return argv[0][len("chrome-extension://") :].strip("/") in CHROME_EXTENSION_IDS
    if len(argv) >= 2:
        return argv[1] in FIREFOX_EXTENSION_IDS
    return False


class Host:
    """Owns the agent connection: (re)connects on demand, pumps agent frames to the browser."""

    def __init__(self, config: Config, relay: Relay, out: IO[bytes]) -> None:
        self.config = config
        self.relay = relay
        self._out = out
        self._out_lock = threading.Lock()
        self._link_lock = threading.Lock()
        self._link: AgentLink | None = None
        self._max_agent_frame = max(config.limits.max_message_bytes * 2, 256 * 1024 * 1024)

    def write(self, frames: list[bytes]) -> None:
        # Chunks of one message stay contiguous: the lock is held for the whole list.
        with self._out_lock, contextlib.suppress(OSError):  # the browser went away: stdin EOF follows
            for frame in frames:
                self._out.write(frame)
            self._out.flush()

    def send(self, frame: bytes) -> None:
        """Send to the agent, connecting (or starting it) first; on failure answer the browser."""
        for attempt in (1, 2):
            link = self._ensure_link()
            if link is None:
                return
            try:
                link.send(frame)
                return
            except OSError:
                self._drop(link, answer=attempt == 2)
        return

    def _ensure_link(self) -> AgentLink | None:
        with self._link_lock:
            if self._link is not None:
                return self._link
            try:
                link = connect_or_start(self.config)
            except (AgentUnavailable, SceauError, OSError) as exc:
                log.error("agent unavailable: %s", exc)
                self.write(
                    self.relay.agent_lost(
                        "The Sceau agent is not available: it could not be started.", ErrorCode.AGENT_UNAVAILABLE
                    )
                )
                return None
            self._link = link
            threading.Thread(target=self._pump, args=(link,), name="agent-reader", daemon=True).start()
            return link

    def _drop(self, link: AgentLink, *, answer: bool = True) -> None:
        with self._link_lock:
            if self._link is link:
                self._link = None
        link.close()
        if answer:
            self.write(self.relay.agent_lost())

    def _pump(self, link: AgentLink) -> None:
        decoder = FrameDecoder(self._max_agent_frame)
        try:
            while True:
                data = link.recv()
                if not data:
                    break
                for body in decoder.feed(data):
                    self.write(self.relay.from_agent(body))
        except (OSError, TooLarge) as exc:
            log.error("agent connection lost: %s", exc)
        self._drop(link)

    def close(self) -> None:
        with self._link_lock:
            link, self._link = self._link, None
        if link is not None:
            link.close()


def _load_config() -> Config:
    try:
        return load()
    except SceauError as exc:  # the agent reports bad config to the user; the host keeps defaults
        log.error("%s", exc.message)
        return Config()


def _hand_over(config: Config) -> bool:
    """Give the browser's pipes to the agent (starting it if needed) and wait until it is done with
    them; False when it cannot take them (the caller relays instead). Nothing was read from stdin."""
    sock = hand_over(config)
    if sock is None:
        try:
            connect_or_start(config).close()  # no agent yet: start one, then ask again
        except (AgentUnavailable, SceauError, OSError):
            return False  # the relay answers the requests with AGENT_UNAVAILABLE
        sock = hand_over(config)
        if sock is None:
            return False
    wait_released(sock)
    return True


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="sceau-native-host: %(message)s")
    args = sys.argv[1:] if argv is None else argv
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    if sys.platform == "win32":  # pragma: no cover - binary stdio on Windows
        import msvcrt
        import os

        msvcrt.setmode(stdin.fileno(), os.O_BINARY)
        msvcrt.setmode(stdout.fileno(), os.O_BINARY)
    if not caller_allowed(args):
        stdout.write(encode_frame(messages.error(None, ErrorCode.ORIGIN_NOT_ALLOWED, "Unknown extension.")))
        stdout.flush()
        log.error("refused caller %r", args[:2])
        return 1
    config = _load_config()
    if config.direct_browser_channel and sys.platform != "win32" and _hand_over(config):
        return 0
    relay = Relay(config.limits.max_message_bytes)
    host = Host(config, relay, stdout)
    try:
        while True:
            try:
                body, refusal = read_browser_frame(stdin, relay.max_request_bytes)
            except EOFError:
                break  # the browser closed the port (or a truncated frame: nothing to answer)
            if refusal is not None:
                host.write([refusal])
                continue
            assert body is not None
            to_agent, reply = relay.from_browser(body)
            if reply is not None:
                host.write([reply])
            if to_agent is not None:
                host.send(to_agent)
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(Exception):
            host.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
