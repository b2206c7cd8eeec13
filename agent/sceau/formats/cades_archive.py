"""CAdES B-LTA: the archive-time-stamp-v3 attribute (ETSI EN 319 122-1 §5.5.3).

The token's message imprint covers, concatenated as encoded (tag, length, value): the eContentType,
the hash of the signed content, the SignerInfo's version, sid, digestAlgorithm, signedAttrs,
signatureAlgorithm and signature, and the ATSHashIndexV3 value. That index, stored as an unsigned
attribute of the token's own SignerInfo, lists the hashes of every certificate and revocation entry
of the SignedData and of every unsigned attribute value (type ‖ value) present when it was made, so
validation data can be added later and still be told apart from what the time-stamp covers.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from asn1crypto import cms, core

from sceau.errors import InvalidInput
from sceau.formats import cmsutil, tsp
from sceau.formats.tsp import TsaClient
from sceau.i18n import _
from sceau.tokens.base import Digest

ATS_V3 = "0.4.0.1733.2.4"  # id-aa-ets-archiveTimestampV3
ATS_HASH_INDEX_V3 = "0.4.0.19122.1.5"  # id-aa-ATSHashIndex-v3


class _Hashes(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.OctetString


class ATSHashIndexV3(core.Sequence):  # type: ignore[misc]
    """hashIndAlgorithm is left out: SHA-256 is its DEFAULT (DER omits defaults)."""

    _fields = [
        ("certificates_hash_index", _Hashes),
        ("crls_hash_index", _Hashes),
        ("unsigned_attr_values_hash_index", _Hashes),
    ]


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _current(sd: cms.SignedData, si: cms.SignerInfo, before: int | None = None) -> tuple[list[bytes], ...]:
    """Hashes of the certificates, revocation entries and unsigned attribute values (up to `before`)."""
    certs = [_sha256(c.dump()) for c in (sd["certificates"] or [])]
    crls = [_sha256(c.dump()) for c in (sd["crls"] or [])]
    values: list[bytes] = []
    attrs = list(si["unsigned_attrs"] or [])
    for attr in attrs[: before if before is not None else len(attrs)]:
        kind = attr["type"].dump()
        values += [_sha256(kind + v.dump()) for v in attr["values"]]
    return certs, crls, values


def _imprint_input(sd: cms.SignedData, si: cms.SignerInfo, content: bytes, index_der: bytes) -> bytes:
    parts = [sd["encap_content_info"]["content_type"].dump(), _sha256(content)]
    parts += [si[name].dump() for name in ("version", "sid", "digest_algorithm", "signed_attrs")]
    parts += [si["signature_algorithm"].dump(), si["signature"].dump(), index_der]
    return b"".join(parts)


def _content(sd: cms.SignedData, detached: bytes | None) -> bytes:
    from sceau.formats.verify import encapsulated_content

    content = encapsulated_content(sd)
    if content is None and detached is None:
        raise InvalidInput(_("This signature is detached: give the signed document too."))
    return content if content is not None else detached  # type: ignore[return-value]


async def extend_cms(data: bytes, tsa: TsaClient, detached: bytes | None) -> bytes:
    """Add an archive-time-stamp-v3 to each signer of a B-LT CAdES signature."""
    from sceau.formats.verify import _load_cms

    sd = _load_cms(data)
    if not sd["crls"]:
        raise InvalidInput(_("B-LTA extends a B-LT signature: this one carries no validation data."))
    content = _content(sd, detached)
    for si in sd["signer_infos"]:
        certs, crls, values = _current(sd, si)
        index = ATSHashIndexV3(
            {"certificates_hash_index": certs, "crls_hash_index": crls, "unsigned_attr_values_hash_index": values}
        )
        ts = await tsa.timestamp_data(_imprint_input(sd, si, content, index.dump()), Digest.SHA256)
        token = ts.token.copy()
        token["content"]["signer_infos"][0]["unsigned_attrs"] = cms.CMSAttributes(
            [cms.CMSAttribute({"type": ATS_HASH_INDEX_V3, "values": [core.Any.load(index.dump())]})]
        )
        attrs = list(si["unsigned_attrs"] or [])
        attrs.append(cms.CMSAttribute({"type": ATS_V3, "values": [core.Any.load(token.dump())]}))
        si["unsigned_attrs"] = cms.CMSAttributes(attrs)
    out: bytes = cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump(force=False)
    return out


def check_cms_archive(
    sd: cms.SignedData, si: cms.SignerInfo, detached: bytes | None
) -> list[tuple[datetime | None, bool]]:
    """(time, valid) of each archive-time-stamp-v3 of `si`: its index must name only data still
    present, and its imprint must match."""
    out: list[tuple[datetime | None, bool]] = []
    attrs = list(si["unsigned_attrs"] or [])
    for position, attr in enumerate(attrs):
        if attr["type"].dotted != ATS_V3:
            continue
        try:
            content = _content(sd, detached)
            token = cms.ContentInfo.load(attr["values"][0].dump())
            tok_attrs = token["content"]["signer_infos"][0]["unsigned_attrs"] or []
            found = [a for a in tok_attrs if a["type"].dotted == ATS_HASH_INDEX_V3]
            if len(found) != 1:
                raise ValueError("no ATSHashIndexV3")
            index_der = found[0]["values"][0].dump()
            index = ATSHashIndexV3.load(index_der)
            now = _current(sd, si, before=position)
            stored = (
                [h.native for h in index["certificates_hash_index"]],
                [h.native for h in index["crls_hash_index"]],
                [h.native for h in index["unsigned_attr_values_hash_index"]],
            )
            if any(h not in present for hashes, present in zip(stored, now, strict=True) for h in hashes):
                raise ValueError("data covered by the archive time-stamp changed")
            tst = token["content"]["encap_content_info"]["content"].parsed
            alg = tst["message_imprint"]["hash_algorithm"]["algorithm"].native
            imprint = cmsutil.digest_bytes(alg, _imprint_input(sd, si, content, index_der))
            out.append((tsp.check_token(token, imprint, None, None).time, True))
        except (InvalidInput, ValueError, KeyError, TypeError, IndexError):
            out.append((None, False))
    return out
