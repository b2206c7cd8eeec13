"""A stand-in agent for native-host tests: the real IPC transport with a scripted handler.

Usage: python stub_agent.py RUNTIME_DIR [--relay] (--relay: no browser-pipe handover, so the
host relays). Commands: `echo` (returns args), `big` (a result of
`size` characters, with quotes, backslashes and non-ASCII text), `crash` (dies mid-operation).
For the browser tests: `hello`, `site-list` (everything granted), `list-certificates` with `size`
(→ big) and `sign-hash` with `crash` (→ crash).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import replace
from typing import Any

from sceau.config import load
from sceau.protocol.session import Session
from sceau.transports.ipc import IpcServer

KINDS = ("authenticate", "sign", "decrypt", "encrypt", "list")


class Scripted:
    def connection_closed(self, session: Session) -> None:
        """Nothing to release: the scripted agent keeps no per-connection state."""

    async def handle(self, message: bytes | dict[str, Any], **_kw: Any) -> dict[str, Any]:
        assert isinstance(message, bytes)
        try:
            req = json.loads(message)
        except ValueError:  # as the real agent answers it
            return {"v": 1, "id": None, "ok": False, "error": {"code": "BAD_REQUEST", "message": "not JSON"}}
        args = req.get("args", {})
        # What the extension sends: enough of hello and site-list to reach the scripted commands.
        if req["cmd"] == "hello":
            result = {
                "agent": "stub",
                "version": "0",
                "protocol": 1,
                "devMode": False,
                "limits": {"maxMessageBytes": 64 * 1024 * 1024},
            }
            return {"v": 1, "id": req["id"], "ok": True, "result": result}
        if req["cmd"] == "site-list":
            grants = [{"origin": args.get("origin"), "operation": k} for k in KINDS]
            return {"v": 1, "id": req["id"], "ok": True, "result": {"grants": grants}}
        if req["cmd"] == "list-certificates" and "size" in args:
            req["cmd"] = "big"
        if req["cmd"] == "sign-hash" and args.get("crash"):
            req["cmd"] = "crash"
        if req["cmd"] == "crash":
            await asyncio.sleep(0.1)
            os._exit(1)
        if req["cmd"] == "big":
            unit = 'ab"c\\dé€😀\n' + "x" * 50
            text = (unit * (args["size"] // len(unit) + 1))[: args["size"]]
            return {"v": 1, "id": req["id"], "ok": True, "result": {"blob": text}}
        return {"v": 1, "id": req["id"], "ok": True, "result": {"echo": args, "origin": req.get("origin")}}


async def main(runtime: str, relay: bool) -> None:
    # The limits of the test's config.toml (XDG_CONFIG_HOME), when it has one.
    config = replace(load(), runtime_dir=runtime, direct_browser_channel=not relay)
    server = IpcServer(Scripted(), config)
    await server.start()
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], "--relay" in sys.argv[2:]))
