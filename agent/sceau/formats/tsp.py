"""RFC 3161 time-stamp client: nonce, certReq, response and token checked before use.

Checks: status granted, message imprint and hash algorithm, nonce, the token's CMS signature,
and that the signing certificate carries the timeStamping extended key usage. The TSA URL comes
from the request or the configuration. Network failures are retried, then reported clearly.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.sign.timestamps.api import TimeStamper

from sceau.errors import BadRequest, InvalidInput, SceauError
from sceau.formats import cmsutil
from sceau.i18n import _
from sceau.protocol.codes import ErrorCode
from sceau.tokens.base import Digest

MAX_RESPONSE = 1 << 20  # a time-stamp response is a few KB
# POST body → response body; tests inject their own.
Transport = Callable[[str, bytes, float], Awaitable[bytes]]


class TimestampError(SceauError):
    """The time-stamp authority was unreachable or answered with something unusable."""

    code = ErrorCode.TIMEOUT


async def http_post(url: str, body: bytes, timeout: float) -> bytes:
    """POST an RFC 3161 query (the only network call of the formats package)."""
    headers = {"Content-Type": "application/timestamp-query", "Accept": "application/timestamp-reply"}
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.post(url, data=body, headers=headers) as resp,
    ):
        if resp.status != 200:
            raise TimestampError(_("The time-stamp server answered HTTP {status}.").format(status=resp.status))
        # read(n) returns what has arrived, not n bytes: read to the end, within the cap.
        data = bytearray()
        while chunk := await resp.content.read(MAX_RESPONSE + 1 - len(data)):
            data += chunk
            if len(data) > MAX_RESPONSE:
                raise TimestampError(_("The time-stamp server answer is too large."))
        return bytes(data)


@dataclass(frozen=True)
class Timestamp:
    """A checked time-stamp token."""

    token: cms.ContentInfo
    time: datetime
    tsa_certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        data: bytes = self.token.dump()
        return data


def validate_url(url: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url) > 2000:
        raise BadRequest(_("Invalid time-stamp server URL."))
    return url


class TsaClient:
    """Talks to one time-stamp authority."""

    def __init__(self, url: str, *, timeout: float = 20.0, retries: int = 2, transport: Transport = http_post) -> None:
        self.url = validate_url(url)
        self.timeout = timeout
        self.retries = retries
        self._transport = transport

    def build_request(self, message_digest: bytes, digest: Digest) -> tuple[int, tsp.TimeStampReq]:
        nonce = secrets.randbits(63)
        req = tsp.TimeStampReq(
            {
                "version": 1,
                "message_imprint": {"hash_algorithm": {"algorithm": digest.value}, "hashed_message": message_digest},
                "nonce": nonce,
                "cert_req": True,
            }
        )
        return nonce, req

    async def _exchange(self, body: bytes) -> bytes:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                return await self._transport(self.url, body, self.timeout)
            except TimestampError as exc:
                last = exc
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                last = exc
            if attempt < self.retries:
                await asyncio.sleep(0.2 * (attempt + 1))
        if isinstance(last, TimestampError):
            raise last
        raise TimestampError(_("The time-stamp server {url} could not be reached.").format(url=self.url)) from None

    async def timestamp(self, message_digest: bytes, digest: Digest) -> Timestamp:
        """A verified time-stamp token over `message_digest`."""
        nonce, req = self.build_request(message_digest, digest)
        raw = await self._exchange(req.dump())
        return check_response(raw, message_digest, digest, nonce)

    async def timestamp_data(self, data: bytes, digest: Digest) -> Timestamp:
        return await self.timestamp(digest.digest(data), digest)


def _bad(reason: str) -> InvalidInput:
    return InvalidInput(_("The time-stamp server returned an invalid token: {reason}").format(reason=reason))


def check_response(raw: bytes, message_digest: bytes, digest: Digest, nonce: int | None) -> Timestamp:
    """Parse and check a TimeStampResp; return the token."""
    try:
        resp = tsp.TimeStampResp.load(raw)
        status = resp["status"]["status"].native
    except ValueError:
        raise _bad(_("unreadable answer")) from None
    if status not in ("granted", "granted_with_mods"):
        raise _bad(_("status {status}").format(status=status))
    token = resp["time_stamp_token"]
    return check_token(token, message_digest, digest, nonce)


def check_token(token: cms.ContentInfo, message_digest: bytes, digest: Digest | None, nonce: int | None) -> Timestamp:
    """Check a time-stamp token (also used by verification with nonce=None)."""
    try:
        if token["content_type"].native != "signed_data":
            raise _bad(_("not a signed token"))
        sd = token["content"]
        encap = sd["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise _bad(_("not a TSTInfo"))
        tst_bytes: bytes = encap["content"].parsed.dump()
        tst = encap["content"].parsed
        imprint = tst["message_imprint"]
        if digest is not None and imprint["hash_algorithm"]["algorithm"].native != digest.value:
            raise _bad(_("hash algorithm differs"))
        if imprint["hashed_message"].native != message_digest:
            raise _bad(_("message imprint differs"))
        if nonce is not None and tst["nonce"].native != nonce:
            raise _bad(_("nonce differs"))
        signer_info = sd["signer_infos"][0]
        certs = cmsutil.embedded_certificates(sd)
        signer = cmsutil.find_signer_cert(signer_info["sid"], certs)
        if signer is None:
            raise _bad(_("no TSA certificate in the token"))
        cert = cmsutil.to_crypto(signer)
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = None
        if eku is None or ExtendedKeyUsageOID.TIME_STAMPING not in eku:
            raise _bad(_("the signing certificate is not a time-stamping certificate"))
        md_name = signer_info["digest_algorithm"]["algorithm"].native
        md_attr = cmsutil.get_attr(signer_info["signed_attrs"], "message_digest")
        if md_attr is None or md_attr.native != cmsutil.digest_bytes(md_name, tst_bytes):  # type: ignore[attr-defined]
            raise _bad(_("content digest differs"))
        if not cmsutil.verify_raw(
            cert,
            signer_info["signature_algorithm"],
            md_name,
            signer_info["signature"].native,
            cmsutil.signed_attrs_bytes(signer_info),
        ):
            raise _bad(_("signature does not verify"))
        gen_time: datetime = tst["gen_time"].native
    except (ValueError, KeyError, TypeError):
        raise _bad(_("malformed token")) from None
    return Timestamp(token=token, time=gen_time, tsa_certificate=cert)


class PyHankoTimeStamper(TimeStamper):
    """pyHanko's TimeStamper going through our client, so PAdES gets the same checks."""

    def __init__(self, client: TsaClient) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self.client = client

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        ts = await self.client.timestamp(message_digest, Digest(md_algorithm))
        return ts.token
