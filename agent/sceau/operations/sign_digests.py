"""`sign-digests`: signatures over digests the platform computed (ACTES CMS, Hélios PES, data-to-sign),
one consent naming every item, one PIN, all-or-nothing (LiberSign semantics).

args: {"items": [{"format": "cms", "hash": "<hex>", "hashAlgorithm": "sha1|sha256|sha384|sha512"},
                 {"format": "pes", "hashes": ["<SHA-256 hex of a Bordereau's exclusive C14N>", ...],
                  "ids": ["<its Id>", ...], "policy": {"identifier", "description", "hash": "<b64>", "spuri"},
                  "claimedRole", "city", "postalCode", "country", "encoding": "ISO-8859-1|UTF-8"},
                 {"format": "raw", "data": "<b64 data-to-sign>"}],
       "certificate": "<handle>"}
result: {"results": [{"format": "cms", "signature": "<b64 DER>"},
                     {"format": "pes", "signatures": ["<b64 XML, root's first child the ds:Signature>", ...]},
                     {"format": "raw", "signature": "<b64>"}], "count": n, "certificate": {...}}
One failed item fails the call: nothing is returned for the others.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from sceau.config import DEFAULT_LIMITS, Limits
from sceau.errors import BadRequest, TooLarge, Unsupported
from sceau.i18n import _
from sceau.operations.base import JSON, Operation
from sceau.operations.context import OperationContext
from sceau.protocol.codes import Command, OperationKind, Role
from sceau.protocol.documents import DocumentInfo
from sceau.protocol.messages import arg_b64, arg_str
from sceau.tokens.base import Digest

if TYPE_CHECKING:  # the format modules (lxml…) load on first use: the idle agent stays small
    from sceau.formats.digests import CmsDigest, DigestItem, PesDigests, RawData

FORMATS = ("cms", "pes", "raw")
MAX_DIGESTS = 1000  # digests in one call, all items together (a PES carries one per bordereau)
MAX_RAW_BYTES = 64 * 1024  # data-to-sign is a SignedInfo or signed attributes: small
PES_ENCODINGS = {"iso-8859-1": "ISO-8859-1", "utf-8": "UTF-8"}
_HEX = re.compile(r"[0-9a-fA-F]+")
_ID = re.compile(r"[A-Za-z_][\w.\-]{0,127}")  # an XML Id (NCName), as a Bordereau carries it
_ALG_NAMES = {Digest.SHA1: "SHA-1", Digest.SHA256: "SHA-256", Digest.SHA384: "SHA-384", Digest.SHA512: "SHA-512"}


@dataclass(frozen=True)
class Params:
    items: tuple[DigestItem, ...]
    certificate: str | None


def _hex_digest(value: object, algorithm: Digest, where: str) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value) or len(value) != 2 * algorithm.size:
        raise BadRequest(
            _("{where}: the hash must be {n} hexadecimal characters ({alg}).").format(
                where=where, n=2 * algorithm.size, alg=_ALG_NAMES[algorithm]
            )
        )
    return bytes.fromhex(value)


def _text(d: Mapping[str, Any], name: str, where: str, *, required: bool, max_len: int = 512) -> str:
    value = d.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(_("{where}: '{name}' is missing.").format(where=where, name=name))
        return ""
    if not isinstance(value, str) or len(value) > max_len or any(ord(c) < 32 for c in value):
        raise BadRequest(_("{where}: '{name}' must be a short text.").format(where=where, name=name))
    return value


def _cms(d: Mapping[str, Any], where: str) -> CmsDigest:
    from sceau.formats.digests import CmsDigest

    name = d.get("hashAlgorithm", "sha1")
    choices = {a.value: a for a in _ALG_NAMES}
    if name not in choices:
        raise BadRequest(_("{where}: unknown hash algorithm.").format(where=where))
    algorithm = choices[name]
    return CmsDigest(_hex_digest(d.get("hash"), algorithm, where), algorithm)


def _pes(d: Mapping[str, Any], where: str) -> PesDigests:
    from sceau.formats.digests import PesDigests, PesPolicy

    hashes, ids = d.get("hashes"), d.get("ids")
    if not isinstance(hashes, list) or not hashes or not isinstance(ids, list):
        raise BadRequest(_("{where}: 'hashes' and 'ids' must be lists.").format(where=where))
    if len(hashes) != len(ids):
        raise BadRequest(
            _("{where}: {h} bordereau hashes but {i} bordereau ids.").format(where=where, h=len(hashes), i=len(ids))
        )
    if len(hashes) > MAX_DIGESTS:
        raise TooLarge(_("Too many digests in one request (at most {n}).").format(n=MAX_DIGESTS))
    for ident in ids:
        if not isinstance(ident, str) or not _ID.fullmatch(ident):
            raise BadRequest(_("{where}: a bordereau id is not a valid XML Id.").format(where=where))
    if len(set(ids)) != len(ids):
        raise BadRequest(_("{where}: the bordereau ids must be distinct.").format(where=where))
    policy = d.get("policy")
    if not isinstance(policy, Mapping):
        raise BadRequest(_("{where}: the signature policy is missing.").format(where=where))
    pwhere = _("{where}, policy").format(where=where)
    try:
        policy_hash = arg_b64(dict(policy), "hash", max_bytes=64, min_bytes=1)
    except BadRequest:
        raise BadRequest(_("{where}: 'hash' must be the policy's base64 digest.").format(where=pwhere)) from None
    if len(policy_hash) not in (20, 32):
        raise BadRequest(_("{where}: the policy hash must be a SHA-1 or SHA-256 value.").format(where=pwhere))
    encoding = PES_ENCODINGS.get(str(d.get("encoding") or "ISO-8859-1").lower())
    if encoding is None:
        raise BadRequest(_("{where}: the encoding must be ISO-8859-1 or UTF-8.").format(where=where))
    return PesDigests(
        digests=tuple(_hex_digest(h, Digest.SHA256, where) for h in hashes),
        ids=tuple(ids),
        policy=PesPolicy(
            identifier=_text(policy, "identifier", pwhere, required=True),
            description=_text(policy, "description", pwhere, required=True),
            digest_value=policy_hash,
            spuri=_text(policy, "spuri", pwhere, required=True, max_len=2000),
        ),
        claimed_role=_text(d, "claimedRole", where, required=True),
        city=_text(d, "city", where, required=False),
        postal_code=_text(d, "postalCode", where, required=False, max_len=32),
        country=_text(d, "country", where, required=False),
        encoding=encoding,
    )


def _raw(d: Mapping[str, Any], where: str) -> RawData:
    from sceau.formats.digests import RawData

    try:
        return RawData(arg_b64(dict(d), "data", max_bytes=MAX_RAW_BYTES, min_bytes=1))
    except (BadRequest, TooLarge):
        raise BadRequest(
            _("{where}: 'data' must be base64 data to sign (at most {n} bytes).").format(where=where, n=MAX_RAW_BYTES)
        ) from None


def parse_items(raw: object, limits: Limits) -> tuple[DigestItem, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest(_("'items' must be a non-empty list."))
    if len(raw) > limits.max_documents:
        raise TooLarge(_("Too many items in one request (at most {n}).").format(n=limits.max_documents))
    items: list[DigestItem] = []
    for index, entry in enumerate(raw):
        where = _("Item {n}").format(n=index + 1)
        if not isinstance(entry, Mapping):
            raise BadRequest(_("{where} must be an object.").format(where=where))
        fmt = entry.get("format")
        if fmt not in FORMATS:
            raise Unsupported(_("{where}: unsupported signature format {fmt}.").format(where=where, fmt=repr(fmt)[:40]))
        items.append(_cms(entry, where) if fmt == "cms" else _pes(entry, where) if fmt == "pes" else _raw(entry, where))
    total = sum(len(getattr(i, "digests", (1,))) for i in items)
    if total > MAX_DIGESTS:
        raise TooLarge(_("Too many digests in one request (at most {n}).").format(n=MAX_DIGESTS))
    return tuple(items)


def consent_documents(items: Sequence[DigestItem]) -> tuple[list[DocumentInfo], str]:
    """What the dialog lists (one line per digest) and its detail text (PES ids, policy, role)."""
    from sceau.formats.digests import CmsDigest, PesDigests

    docs: list[DocumentInfo] = []
    details: list[str] = []
    for n, item in enumerate(items, 1):
        if isinstance(item, CmsDigest):
            label = _("CMS signature {n}, {alg} digest from the site").format(n=n, alg=_ALG_NAMES[item.algorithm])
            docs.append(DocumentInfo(f"{label}: {item.digest.hex()}", 0, item.digest.hex(), item.algorithm.value))
        elif isinstance(item, PesDigests):
            for ident, digest in zip(item.ids, item.digests, strict=True):
                docs.append(DocumentInfo(_("PES bordereau {id}").format(id=ident), 0, digest.hex(), "sha256"))
            details.append(
                _("PES bordereaux {ids}; policy {policy} ({description}); role {role}; place {place}.").format(
                    ids=", ".join(item.ids),
                    policy=item.policy.identifier,
                    description=item.policy.description,
                    role=item.claimed_role,
                    place=", ".join(p for p in (item.city, item.postal_code, item.country) if p) or "-",
                )
            )
        else:
            sha = hashlib.sha256(item.data).hexdigest()
            docs.append(DocumentInfo(_("Data prepared by the site {n}").format(n=n), len(item.data), sha))
    head = _("{n} signature(s) of digests computed by the site: Sceau never sees the documents.").format(n=len(docs))
    return docs, " ".join([head, *details])


class SignDigests(Operation):
    command: ClassVar[Command] = Command.SIGN_DIGESTS
    arguments: ClassVar[frozenset[str] | None] = frozenset({"items", "certificate"})
    kind: ClassVar[OperationKind | None] = OperationKind.SIGN

    def parse(self, args: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Params:
        a = dict(args)
        return Params(
            parse_items(a.get("items"), limits), arg_str(a, "certificate", required=False, max_len=64) or None
        )

    async def run(self, ctx: OperationContext, params: Params) -> JSON:
        from sceau.formats.digests import CmsDigest, sign_items
        from sceau.formats.ltv import load_anchors
        from sceau.formats.signer import BatchPinPrompt, TokenKey

        entry = await ctx.select_certificate(Role.SIGN, params.certificate, OperationKind.SIGN)
        documents, detail = consent_documents(params.items)
        await ctx.consent(OperationKind.SIGN, documents=documents, certificate=entry, detail=detail)
        token = ctx.tokens.token_of(entry)
        prompt = BatchPinPrompt(ctx.pin_prompt())  # one PIN for the whole call

        async def runner(fn: Any) -> bytes:
            out: bytes = await ctx.blocking(fn, token)
            return out

        try:
            await ctx.blocking(lambda: token.login(prompt), token)
            key = TokenKey(token, entry, prompt, runner=runner)
            outputs = await sign_items(params.items, key, load_anchors(ctx.config.trust_anchors))
        finally:
            prompt.forget()
        results: list[JSON] = []
        for item, out in zip(params.items, outputs, strict=True):
            if isinstance(out, list):
                results.append({"format": "pes", "signatures": [b64(o) for o in out]})
            else:
                results.append({"format": "cms" if isinstance(item, CmsDigest) else "raw", "signature": b64(out)})
        return {"results": results, "count": len(results), "certificate": entry.summary()}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


OPERATION = SignDigests()
