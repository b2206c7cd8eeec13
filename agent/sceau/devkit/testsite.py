"""Test relying party: an aiohttp site on https (self-signed test certificate) on several ports, and
the page helpers that drive it in a browser (e2e tests, bridge benchmark).

Serves the page library from extension/lib (as a platform would host it), a test page that puts
`Sceau` on `window`, an embedding page (iframe of another origin), a challenge endpoint, and
`/files/<name>`: GET serves `files[name]` (documents for the page), POST stores the body there
(what the page sends back, checked by the test with independent tools).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sceau.devkit.bridge import EXTENSION
from sceau_rp import NonceStore

LIB = EXTENSION / "lib"
MAX_UPLOAD = 64 * 1024 * 1024

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>RP test</title></head><body>
<h1>Plateforme de test</h1>
<script type="module">
import { Sceau, SceauError, ErrorCode } from "/lib/sceau.js";
window.Sceau = Sceau; window.SceauError = SceauError; window.ErrorCode = ErrorCode;
// Run a call and keep its outcome as plain data (tests read it with page.evaluate).
window.run = (fn) => fn().then((result) => ({ ok: true, result }),
                               (e) => ({ ok: false, code: e.code, message: e.message }));
window.sceauReady = true;
</script></body></html>"""

EMBED = """<!doctype html><html><head><meta charset="utf-8"><title>embed</title></head><body>
<iframe id="frame" src="{src}" width="400" height="200"></iframe></body></html>"""


def self_signed(directory: Path) -> ssl.SSLContext:
    """A server certificate for localhost and 127.0.0.1 (the browser runs with ignore_https_errors)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "rp-cert.pem", directory / "rp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


class RelyingParty:
    """Runs the site in a background thread; `origin(i, host)` names one of its origins."""

    def __init__(self, directory: Path, ports: int = 3, plain_ports: int = 0) -> None:
        self.nonces = NonceStore()
        self.files: dict[str, bytes] = {}
        self.pages: dict[str, str] = {}  # /p/<name>: HTML pages a test writes (platform-style pages)
        # POST /spool/<name>: appended to a file here (results too big for memory, sent in pieces).
        self.spool = directory / "spool"
        self._ssl = self_signed(directory)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.ports: list[int] = []
        self._count = ports
        self._plain = plain_ports
        self.plain_ports: list[int] = []

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD)

        async def page(_req: web.Request) -> web.Response:
            return web.Response(text=PAGE, content_type="text/html")

        async def isolated(_req: web.Request) -> web.Response:
            # Cross-origin isolated: performance.now() ticks in 5 µs instead of 100 µs (benchmarks).
            headers = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
            return web.Response(text=PAGE, content_type="text/html", headers=headers)

        async def embed(req: web.Request) -> web.Response:
            src = req.query.get("src", "")
            return web.Response(text=EMBED.format(src=src.replace('"', "")), content_type="text/html")

        async def nonce(_req: web.Request) -> web.Response:
            return web.json_response({"nonce": self.nonces.issue()})

        async def get_file(req: web.Request) -> web.Response:
            data = self.files.get(req.match_info["name"])
            if data is None:
                raise web.HTTPNotFound()
            return web.Response(body=data, content_type="application/octet-stream")

        async def post_file(req: web.Request) -> web.Response:
            self.files[req.match_info["name"]] = await req.read()
            return web.json_response({"size": len(self.files[req.match_info["name"]])})

        async def spool(req: web.Request) -> web.Response:
            name = req.match_info["name"]
            if "/" in name or name.startswith("."):
                raise web.HTTPBadRequest()
            self.spool.mkdir(exist_ok=True)
            with open(self.spool / name, "ab") as f:
                async for piece in req.content.iter_chunked(1 << 20):
                    f.write(piece)
                size = f.tell()
            return web.json_response({"size": size})

        async def test_page(req: web.Request) -> web.Response:
            html = self.pages.get(req.match_info["name"])
            if html is None:
                raise web.HTTPNotFound()
            return web.Response(text=html, content_type="text/html")

        app.router.add_get("/", page)
        app.router.add_get("/isolated", isolated)
        app.router.add_get("/p/{name}", test_page)
        app.router.add_get("/files/{name}", get_file)
        app.router.add_post("/files/{name}", post_file)
        app.router.add_post("/spool/{name}", spool)
        app.router.add_get("/embed", embed)
        app.router.add_get("/nonce", nonce)
        app.router.add_static("/lib", LIB)
        return app

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        self._runner = web.AppRunner(self._app())
        await self._runner.setup()
        for _ in range(self._count):
            site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
            await site.start()
            server = site._server
            assert server is not None and server.sockets  # type: ignore[attr-defined]
            self.ports.append(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        for _ in range(self._plain):  # plain http, for the dev-mode (localhost) rules
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            server = site._server
            assert server is not None and server.sockets  # type: ignore[attr-defined]
            self.plain_ports.append(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    def origin(self, index: int = 0, host: str = "localhost") -> str:
        return f"https://{host}:{self.ports[index]}"

    def http_origin(self, index: int = 0, host: str = "localhost") -> str:
        return f"http://{host}:{self.plain_ports[index]}"

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def open_page(context: Any, url: str) -> Any:
    """A new tab on the test site's page, once `Sceau` is on its window."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("window.sceauReady === true")
    return page


def call(page: Any, js: str) -> dict[str, Any]:
    """Evaluate `js` (an expression using Sceau) through window.run: {ok, result} or {ok, code}."""
    result: dict[str, Any] = page.evaluate(f"window.run(() => {js})")
    return result


def start(page: Any, js: str, slot: str = "pending") -> None:
    """Start a call without waiting (a permission popup will need a click first)."""
    page.evaluate(f"() => {{ window.__{slot} = window.run(() => {js}); }}")


def result(page: Any, slot: str = "pending") -> dict[str, Any]:
    """The outcome of a call begun with `start`."""
    value: dict[str, Any] = page.evaluate(f"window.__{slot}")
    return value
