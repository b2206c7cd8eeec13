"""Local trust services for tests and the demo: an RFC 3161 TSA, an OCSP responder and the CRL.

Runs on 127.0.0.1 only, on a background thread, with the dev PKI's `tsa` and `ocsp`
identities. The TSA is `openssl ts -reply` (an independent implementation); the OCSP responder
uses cryptography's builder. Extra TSA paths misbehave on purpose for error tests:
`/tsa-500` (HTTP error), `/tsa-garbage` (not DER), `/tsa-wrong` (token for another digest),
`/tsa-rejected` (status rejection).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from sceau.devkit.pki import DevPki

TSA_CONFIG = """
[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = {dir}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = {cert}
certs = {chain}
signer_key = {key}
signer_digest = sha256
default_policy = 1.2.250.1.999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class DevServices:
    """TSA + OCSP + CRL over HTTP on 127.0.0.1:port (start() / stop())."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.pki: DevPki | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="sceau-devsvc-"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.requests: dict[str, int] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tsa_url(self) -> str:
        return f"{self.base}/tsa"

    @property
    def crl_url(self) -> str:
        return f"{self.base}/crl"

    @property
    def ocsp_url(self) -> str:
        return f"{self.base}/ocsp"

    def attach(self, pki: DevPki) -> None:
        """Serve this PKI (may be called after start: URLs go into certificates first)."""
        self.pki = pki
        conf = self._dir / "tsa.cnf"
        (self._dir / "tsaserial").write_text("01\n")
        conf.write_text(TSA_CONFIG.format(dir=self._dir, cert=pki["tsa"].cert, key=pki["tsa"].key_pem, chain=pki.chain))

    # -- HTTP handlers -----------------------------------------------------------------------
    def _count(self, name: str) -> None:
        self.requests[name] = self.requests.get(name, 0) + 1

    def _ts_reply(self, query: bytes) -> bytes:
        q = self._dir / f"q-{os.getpid()}-{threading.get_ident()}.tsq"
        r = q.with_suffix(".tsr")
        q.write_bytes(query)
        subprocess.run(
            ["openssl", "ts", "-reply", "-config", str(self._dir / "tsa.cnf"), "-queryfile", str(q), "-out", str(r)],
            check=True,
            capture_output=True,
        )
        return r.read_bytes()

    async def _tsa(self, request: web.Request) -> web.Response:
        self._count(request.path)
        body = await request.read()
        mode = request.match_info.get("mode", "")
        if mode == "500":
            return web.Response(status=500, text="down")
        if mode == "garbage":
            return web.Response(body=b"\x30\x03garbage", content_type="application/timestamp-reply")
        if mode == "rejected":
            # TimeStampResp { status { status rejection(2) } } without a token.
            return web.Response(
                body=bytes.fromhex("3005300302010 2".replace(" ", "")), content_type="application/timestamp-reply"
            )
        if mode == "wrong":
            req = tsp.TimeStampReq.load(body)
            other = tsp.TimeStampReq(
                {
                    "version": 1,
                    "message_imprint": {
                        "hash_algorithm": req["message_imprint"]["hash_algorithm"],
                        "hashed_message": bytes(len(req["message_imprint"]["hashed_message"].native)),
                    },
                    "nonce": req["nonce"],
                    "cert_req": True,
                }
            )
            body = other.dump()
        reply = await asyncio.to_thread(self._ts_reply, body)
        return web.Response(body=reply, content_type="application/timestamp-reply")

    async def _crl(self, request: web.Request) -> web.Response:
        self._count("crl")
        assert self.pki is not None
        der = (self.pki.root / "intermediate.crl").read_bytes()
        return web.Response(body=der, content_type="application/pkix-crl")

    def _ocsp_answer(self, body: bytes) -> bytes:
        assert self.pki is not None
        pki = self.pki
        req = ocsp.load_der_ocsp_request(body)
        issuer = x509.load_pem_x509_certificate(Path(pki.intermediate_ca).read_bytes())
        by_serial = {ident.serial: name for name, ident in pki.identities.items()}
        name = by_serial.get(req.serial_number)
        if name is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(
                serialization.Encoding.DER
            )
        cert = pki.cert(name)
        crl = x509.load_der_x509_crl((pki.root / "intermediate.crl").read_bytes())
        revoked = crl.get_revoked_certificate_by_serial_number(req.serial_number)
        now = datetime.now(UTC)
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=cert,
            issuer=issuer,
            algorithm=hashes.SHA1(),  # noqa: S303 - CertID hash as most clients send it
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            this_update=now - timedelta(minutes=5),
            next_update=now + timedelta(days=1),
            revocation_time=revoked.revocation_date_utc if revoked else None,
            revocation_reason=None,
        )
        responder = pki.cert("ocsp")
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder).certificates([responder])
        for ext in req.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                builder = builder.add_extension(ext.value, critical=False)
        key = pki.key("ocsp")
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    async def _ocsp(self, request: web.Request) -> web.Response:
        self._count("ocsp")
        body = await request.read()
        try:
            answer = self._ocsp_answer(body)
        except ValueError:
            answer = ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            ).public_bytes(serialization.Encoding.DER)
        return web.Response(body=answer, content_type="application/ocsp-response")

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> DevServices:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/tsa", self._tsa)
        app.router.add_post("/tsa-{mode}", self._tsa)
        app.router.add_get("/crl", self._crl)
        app.router.add_post("/ocsp", self._ocsp)
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            self._runner = runner
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="sceau-devservices", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("dev services did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
