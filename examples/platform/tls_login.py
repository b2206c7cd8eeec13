"""Login by TLS client certificate, as S²low does: a second https server on 127.0.0.1 that asks for a
certificate during the handshake (`ssl.CERT_REQUIRED`, trust anchors = the demo PKI's CAs).

The browser answers from its own certificate store: the token is there only after
`sceau browsers enable-tls-login`. OpenSSL (Python's `ssl`) checks the chain and the client's
signature in the handshake; the page then shows who logged in. `seen` keeps the DER certificates the
server received (tests compare them with the token's).
"""

from __future__ import annotations

import asyncio
import html
import socket
import ssl
import threading
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from examples.platform.tls import ServerCertificate, localhost_certificate
from sceau.devkit.pki import DevPki

SEEN_KEY = web.AppKey("seen", list)


def client_auth_context(server: ServerCertificate, pki: DevPki) -> ssl.SSLContext:
    """Server context that refuses the handshake without a certificate issued under the demo PKI."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(server.chain_pem, server.key_pem)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(pki.root_ca))
    ctx.load_verify_locations(cafile=str(pki.intermediate_ca))
    return ctx


def _name(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _page(cert: x509.Certificate) -> str:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        client_auth = ExtendedKeyUsageOID.CLIENT_AUTH in eku
    except x509.ExtensionNotFound:
        client_auth = False
    issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    rows = [
        ("Titulaire", _name(cert, NameOID.COMMON_NAME)),
        ("Organisation", _name(cert, NameOID.ORGANIZATION_NAME)),
        ("Identifiant", _name(cert, NameOID.ORGANIZATION_IDENTIFIER)),
        ("Émetteur", str(issuer[0].value) if issuer else ""),
        ("Numéro de série", f"{cert.serial_number:X}"),
        ("Valide jusqu'au", f"{cert.not_valid_after_utc:%d/%m/%Y}"),
        ("Usage « authentification client »", "oui" if client_auth else "non"),
    ]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Connexion par certificat (TLS)</title>'
        "</head><body><h1>Connexion par certificat (TLS)</h1>"
        f'<p id="welcome">Bienvenue, {html.escape(_name(cert, NameOID.COMMON_NAME))}.</p>'
        "<p>Le navigateur a présenté ce certificat pendant la poignée de main TLS ; le serveur a vérifié "
        f"la chaîne et la signature de la carte.</p><table>{table}</table></body></html>"
    )


async def _welcome(request: web.Request) -> web.Response:
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    if not der:  # cannot happen with CERT_REQUIRED; kept so a misconfiguration is visible
        return web.Response(status=403, text="Aucun certificat client.")
    request.app[SEEN_KEY].append(der)
    return web.Response(text=_page(x509.load_der_x509_certificate(der)), content_type="text/html")


class TlsLoginServer:
    """`start()` binds 127.0.0.1 (port 0: a free one) in a background thread."""

    def __init__(self, pki: DevPki, directory: Path, port: int = 0) -> None:
        self.pki = pki
        self.directory = directory
        self.requested_port = port
        self.port = 0
        self.seen: list[bytes] = []
        self.server_certificate: ServerCertificate | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sceau-demo-tls-login", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server_certificate = localhost_certificate(self.pki, self.directory)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(self.server_certificate), self._loop).result(30)

    async def _start(self, cert: ServerCertificate) -> None:
        sock = socket.create_server(("127.0.0.1", self.requested_port))
        self.port = sock.getsockname()[1]
        app = web.Application()
        app[SEEN_KEY] = self.seen
        app.router.add_get("/", _welcome)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, ssl_context=client_auth_context(cert, self.pki)).start()

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
