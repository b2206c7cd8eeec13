"""Run the platform on http(s)://localhost:PORT in a background thread (the main thread drives a browser)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from aiohttp import web

from examples.platform.app import create_app
from examples.platform.tls import ServerCertificate
from sceau.devkit.pki import DevPki


class PlatformServer:
    """`start()` binds localhost (IPv4 and IPv6 when present); port 0 picks a free port."""

    def __init__(
        self,
        pki: DevPki,
        port: int,
        storage: Path,
        host: str = "localhost",
        tls: ServerCertificate | None = None,
        tls_login_origin: str = "",
    ) -> None:
        self.pki = pki
        self.tls_login_origin = tls_login_origin  # the TLS client-certificate login server, if started
        self.tls = tls
        self.requested_port = port
        self.storage = storage
        self.host = host
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sceau-demo-platform", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)

    async def _start(self) -> None:
        import socket

        # Bind first so that the origin (with the real port) is known before the app is built.
        sock = socket.create_server(("127.0.0.1" if self.host == "localhost" else self.host, self.requested_port))
        self.port = sock.getsockname()[1]
        app = create_app(self.pki, origin=self.origin, storage=self.storage, tls_login_origin=self.tls_login_origin)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        ssl_context = self.tls.context() if self.tls else None
        await web.SockSite(self._runner, sock, ssl_context=ssl_context).start()
        if self.host == "localhost":
            try:  # browsers may resolve localhost to ::1 first
                sock6 = socket.create_server(("::1", self.port), family=socket.AF_INET6)
            except OSError:
                return
            await web.SockSite(self._runner, sock6, ssl_context=ssl_context).start()

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
