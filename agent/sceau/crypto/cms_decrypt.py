"""Streaming decryption of CMS EnvelopedData (RFC 5652) and AuthEnvelopedData (RFC 5083).

Two steps, so the caller can match recipients, ask consent and use the token in between:

    envelope = read_envelope(stream)                 # parses up to the encrypted content
    key = recipients.recover_key(token, match, ...)  # private-key operation on the token
    result = decrypt_content(envelope, key, out)     # streams the rest, 1 MiB at a time

Memory does not depend on the file size: the ciphertext goes through one read buffer, one
staging buffer and one output buffer. AES-CBC padding and the AES-GCM tag are checked at the
end; the caller writes into an `AtomicOutput` so nothing is kept unless the whole check passes.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from asn1crypto import algos, cms, core
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import AEADDecryptionContext, CipherContext

from sceau.crypto import algorithms as alg
from sceau.crypto.ber import (
    CONTEXT,
    TAG_OCTET_STRING,
    TAG_SEQUENCE,
    UNIVERSAL,
    BerReader,
    Header,
    iter_octets,
)
from sceau.crypto.pipeline import WriterThread
from sceau.crypto.recipients import decryption_failed, parse_recipient_infos
from sceau.errors import InvalidInput, Unsupported
from sceau.i18n import _

CHUNK = 1 << 20
DIRECT_MIN = 256 * 1024  # content chunks at least this big skip the staging copy
MAX_RECIPIENT_INFOS_BYTES = 8 << 20
MAX_ORIGINATOR_INFO_BYTES = 1 << 20
MAX_ATTRS_BYTES = 1 << 20
HEAD_BYTES = 256

Progress = Callable[[int], None]


def _not_cms() -> InvalidInput:
    return InvalidInput(_("The file is not an encrypted CMS file (PKCS#7 EnvelopedData)."))


@dataclass
class Envelope:
    """An EnvelopedData / AuthEnvelopedData whose header is parsed; the reader sits on the ciphertext."""

    kind: str  # "enveloped-data" / "auth-enveloped-data"
    version: int
    recipients: list[cms.RecipientInfo]
    content_type: str  # dotted OID of the encrypted content (id-data, id-signedData...)
    params: alg.ContentParams
    reader: BerReader
    headers: tuple[Header, Header, Header, Header]  # ContentInfo, [0], EnvelopedData SEQUENCE, ECI
    content: Header

    @property
    def authenticated(self) -> bool:
        return self.kind == "auth-enveloped-data"


def _oid(reader: BerReader, limit: int | None) -> str:
    raw = reader.read_element(128, limit=limit)
    try:
        return str(core.ObjectIdentifier.load(raw, strict=True).dotted)
    except (ValueError, TypeError):
        raise _not_cms() from None


def read_envelope(stream: BinaryIO, size: int | None = None) -> Envelope:
    """Parse ContentInfo → (Auth)EnvelopedData up to the encrypted content."""
    r = BerReader(stream, size=size)
    if r.peek(1) != b"\x30":
        raise _not_cms()
    ci = r.read_header(size)
    oid = _oid(r, ci.end)
    if oid == alg.OID_SIGNED_DATA:
        raise InvalidInput(_("This file is signed, not encrypted: open it with signature verification."))
    if oid not in (alg.OID_ENVELOPED_DATA, alg.OID_AUTH_ENVELOPED_DATA):
        raise _not_cms()
    kind = "enveloped-data" if oid == alg.OID_ENVELOPED_DATA else "auth-enveloped-data"
    explicit = r.read_header(ci.end)
    seq = r.read_header(explicit.end)
    if not (explicit.is_(CONTEXT, 0, True) and seq.is_(UNIVERSAL, TAG_SEQUENCE, True)):
        raise _not_cms()
    try:
        version = int(core.Integer.load(r.read_element(16, limit=seq.end), strict=True).native)
    except (ValueError, TypeError):
        raise _not_cms() from None
    if r.peek(1) == b"\xa0":  # originatorInfo: certificates/CRLs we do not need
        r.read_element(MAX_ORIGINATOR_INFO_BYTES, limit=seq.end)
    if r.peek(1) != b"\x31":
        raise _not_cms()
    recipients = parse_recipient_infos(r.read_element(MAX_RECIPIENT_INFOS_BYTES, limit=seq.end))
    eci = r.read_header(seq.end)
    if not eci.is_(UNIVERSAL, TAG_SEQUENCE, True):
        raise _not_cms()
    content_type = _oid(r, eci.end)
    try:
        algorithm = algos.EncryptionAlgorithm.load(r.read_element(4096, limit=eci.end), strict=True)
        algorithm["algorithm"].dotted  # noqa: B018 - parse now, inside the try
    except (ValueError, TypeError):
        raise InvalidInput(_("The content encryption algorithm of the file is malformed.")) from None
    params = alg.content_params(algorithm)
    if r.at_element_end(eci):
        raise InvalidInput(_("The file holds no encrypted content (detached content is not supported)."))
    content = r.read_header(eci.end)
    if not content.is_(CONTEXT, 0):
        raise _not_cms()
    return Envelope(kind, version, recipients, content_type, params, r, (ci, explicit, seq, eci), content)


@dataclass(frozen=True)
class DecryptResult:
    size: int  # plaintext bytes written
    head: bytes  # the first plaintext bytes, to recognise zip / SignedData
    content_type: str
    algorithm: str


class _Sink:
    """Writes plaintext, keeping the first bytes and a count; CBC holds the last block back (padding)."""

    def __init__(self, out: BinaryIO | WriterThread, hold: int, progress: Progress | None) -> None:
        self.out = out
        self.hold = hold
        self.carry = b""
        self.size = 0
        self.head = b""
        self.progress = progress

    def write(self, data: bytes | memoryview) -> None:
        if not data:
            return
        if len(self.head) < HEAD_BYTES:
            self.head += bytes(data[: HEAD_BYTES - len(self.head)])
        view = memoryview(data)
        while view:  # raw files may write short
            n = self.out.write(view)
            view = view[n if n is not None else len(view) :]
        self.size += len(data)

    def feed(self, data: memoryview) -> None:
        if not self.hold:
            self.write(data)
        elif len(data) >= self.hold:
            self.write(self.carry)
            self.write(data[: len(data) - self.hold])
            self.carry = bytes(data[len(data) - self.hold :])
        else:
            self.carry += bytes(data)
            if len(self.carry) > self.hold:
                self.write(self.carry[: -self.hold])
                self.carry = self.carry[-self.hold :]
        if self.progress is not None:
            self.progress(self.size)


def _unpad(block: bytes, block_size: int) -> bytes:
    """PKCS#7 padding removal; any defect is the one decryption error."""
    if len(block) != block_size:
        raise decryption_failed()
    pad = block[-1]
    ok = 1 <= pad <= block_size
    expected = bytes([pad]) * block_size
    ok = hmac.compare_digest(block[block_size - pad :], expected[block_size - pad :]) and ok
    if not ok:
        raise decryption_failed()
    return block[: block_size - pad]


def decrypt_content(
    envelope: Envelope, key: bytes, out: BinaryIO, *, progress: Progress | None = None, digest: Any = None
) -> DecryptResult:
    """Decrypt the content into `out` and check padding / tag. Raise `decryption_failed()` on any failure.
    `digest` (a hashlib object) is fed the plaintext as it is written, off this thread."""
    params = envelope.params
    if len(key) != params.cipher.key_size:
        raise decryption_failed()
    try:
        dec = alg.decryptor(params, key)
    except ValueError:
        raise decryption_failed() from None
    cbc = params.cipher.mode == "cbc"
    writer = WriterThread(out, CHUNK, digest=digest)  # writes behind the cipher (crypto.pipeline)
    try:
        result = _decrypt_into(envelope, dec, _Sink(writer, params.cipher.block_size if cbc else 0, progress))
    except BaseException:
        writer.abort()
        raise
    writer.close()
    if progress is not None:
        progress(result.size)
    return result


def _decrypt_into(envelope: Envelope, dec: CipherContext, sink: _Sink) -> DecryptResult:
    params = envelope.params
    cbc = params.cipher.mode == "cbc"
    stage = bytearray(CHUNK)
    staged = 0
    obuf = bytearray(CHUNK + 64)
    oview = memoryview(obuf)

    def process(data: memoryview) -> None:
        n = dec.update_into(data, obuf)
        sink.feed(oview[:n])

    r = envelope.reader
    for chunk in iter_octets(r, envelope.content):
        if not staged and len(chunk) >= DIRECT_MIN:
            process(chunk)
            continue
        while chunk:
            k = min(len(chunk), CHUNK - staged)
            stage[staged : staged + k] = chunk[:k]
            staged += k
            chunk = chunk[k:]
            if staged == CHUNK:
                process(memoryview(stage))
                staged = 0
    if staged:
        process(memoryview(stage)[:staged])
    ci, explicit, seq, eci = envelope.headers
    r.expect_end(eci)
    if cbc:
        try:
            last = sink.carry + dec.finalize()
        except ValueError:  # not a whole number of blocks
            raise decryption_failed() from None
        sink.carry = b""
        sink.write(_unpad(last, params.cipher.block_size))
    else:
        tag = _read_auth_trailer(r, seq)
        try:
            if not isinstance(dec, AEADDecryptionContext):
                raise decryption_failed()
            dec.finalize_with_tag(tag)
        except (InvalidTag, ValueError):
            raise decryption_failed() from None
    if not envelope.authenticated and r.peek(1) == b"\xa1":  # unprotectedAttrs
        r.read_element(MAX_ATTRS_BYTES, limit=seq.end)
    r.expect_end(seq)
    r.expect_end(explicit)
    r.expect_end(ci)
    return DecryptResult(sink.size, sink.head, envelope.content_type, params.cipher.name)


def _read_auth_trailer(r: BerReader, seq: Header) -> bytes:
    """authAttrs (refused: they would be GCM AAD *before* the content), mac, unauthAttrs."""
    if r.peek(1) == b"\xa1":
        raise Unsupported(_("Authenticated attributes in AuthEnvelopedData are not supported."))
    mac = r.read_header(seq.end)
    if not mac.is_(UNIVERSAL, TAG_OCTET_STRING, False) or mac.length is None or mac.length > 64:
        raise _not_cms()
    tag = bytes(r.read(mac.length))
    if r.peek(1) == b"\xa2":
        r.read_element(MAX_ATTRS_BYTES, limit=seq.end)
    return tag


def is_signed_data(head: bytes) -> bool:
    """Whether plaintext starting with `head` looks like a CMS ContentInfo of SignedData."""
    oid = bytes.fromhex("06092a864886f70d010702")
    return head[:1] == b"\x30" and oid in head[:16]


__all__ = [
    "DecryptResult",
    "Envelope",
    "decrypt_content",
    "is_signed_data",
    "read_envelope",
]
