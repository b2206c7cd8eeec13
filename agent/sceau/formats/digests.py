"""Signatures over digests a platform computed (the `sign-digests` engine): the document never
reaches the agent, the server inserts and checks what comes back (LiberSign's contract).

- `CmsDigest`: a detached CMS (CAdES B-B attributes) whose messageDigest is the given hash. RFC 5652
  §5.4 digests the signed attributes with the SignerInfo's one digestAlgorithm, and `openssl cms
  -verify` (what S²low runs) applies it to the signature too, so a SHA-1 digest (ACTES pages) gives a
  sha1WithRSA / ecdsa-with-SHA1 signature: it is the only form those servers accept.
- `PesDigests`: one enveloped XAdES 1.2.2 (prefix `xad`, exclusive C14N, the policy fields as given)
  per Bordereau digest. Each comes back as a small XML document whose root's first child node is the
  `ds:Signature`, which declares every namespace it uses, so a server can paste it as the last child
  of the n-th Bordereau and it verifies there.
- `RawData`: the raw signature of server-built data-to-sign (SHA-256), the split-signing primitive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from cryptography import x509
from lxml import etree

from sceau.formats import cades, xmldsig
from sceau.formats.options import SignOptions
from sceau.formats.pes import build_pes_signature
from sceau.formats.signer import TokenKey
from sceau.formats.xades import finish_signature
from sceau.tokens.base import Digest

# The root element around each PES signature (servers take its first child, whatever its name).
PES_WRAPPER = "DocumentDetachedSignature"
SHA1_URI = "http://www.w3.org/2000/09/xmldsig#sha1"  # only in SigPolicyHash (older Hélios policies)


@dataclass(frozen=True)
class CmsDigest:
    digest: bytes
    algorithm: Digest


@dataclass(frozen=True)
class PesPolicy:
    identifier: str
    description: str
    digest_value: bytes  # 20 bytes: SHA-1 (older policies), 32: SHA-256
    spuri: str

    @property
    def digest_uri(self) -> str:
        return SHA1_URI if len(self.digest_value) == 20 else xmldsig.DIGEST_URI[Digest.SHA256]


@dataclass(frozen=True)
class PesDigests:
    digests: tuple[bytes, ...]  # SHA-256 of the exclusive C14N of each Bordereau
    ids: tuple[str, ...]  # their Id attributes, same order
    policy: PesPolicy
    claimed_role: str
    city: str = ""
    postal_code: str = ""
    country: str = ""
    encoding: str = "ISO-8859-1"


@dataclass(frozen=True)
class RawData:
    data: bytes


DigestItem = CmsDigest | PesDigests | RawData


async def sign_cms_digest(item: CmsDigest, key: TokenKey, options: SignOptions) -> bytes:
    """A detached CMS (DER) over content whose `item.algorithm` hash is `item.digest`."""
    return await cades.sign_digest(item.digest, key, replace(options, digest=item.algorithm))


def _with_policy(sig: etree._Element, policy: PesPolicy) -> None:
    """Set the policy hash's DigestMethod from the given value's length (build_signature wrote SHA-256)."""
    for method in sig.iter(f"{{{xmldsig.DS}}}DigestMethod"):
        parent = method.getparent()
        if parent is not None and etree.QName(parent).localname == "SigPolicyHash":
            method.set("Algorithm", policy.digest_uri)


async def sign_pes_digests(item: PesDigests, key: TokenKey, options: SignOptions) -> list[bytes]:
    """One wrapped ds:Signature per bordereau digest, in order (XML bytes in `item.encoding`)."""
    options = replace(options, digest=Digest.SHA256)
    when = options.signing_time or datetime.now(UTC)
    key = key.completed(options.trust_anchors)
    policy = xmldsig.SignaturePolicy(
        identifier=item.policy.identifier,
        description=item.policy.description,
        digest=Digest.SHA256,  # replaced by _with_policy when the value is a SHA-1
        digest_value=item.policy.digest_value,
        spuri=item.policy.spuri,
    )
    out: list[bytes] = []
    for digest, target_id in zip(item.digests, item.ids, strict=True):
        ref = xmldsig.Reference(
            uri=f"#{target_id}", digest_value=digest, transforms=(xmldsig.ENVELOPED, xmldsig.EXC_C14N)
        )
        xopts = xmldsig.XadesOptions(
            namespace=xmldsig.XADES122,
            signing_time=when,
            policy=policy,
            claimed_role=item.claimed_role,
            city=item.city,
            postal_code=item.postal_code,
            country=item.country,
        )
        sig = build_pes_signature(ref, key, options, xopts, target_id)
        _with_policy(sig, item.policy)
        await finish_signature(sig, key, options)
        out.append(wrap_signature(sig, item.encoding))
    return out


def wrap_signature(sig: etree._Element, encoding: str) -> bytes:
    """`<?xml?><Wrapper><ds:Signature …>…</ds:Signature></Wrapper>`: no node before the signature,
    and the wrapper declares no namespace the signature could lean on."""
    root = etree.Element(PES_WRAPPER)
    root.append(sig)
    blob = etree.tostring(root, encoding=encoding, xml_declaration=True)
    assert isinstance(blob, bytes)
    return blob


async def sign_raw_data(item: RawData, key: TokenKey) -> bytes:
    """The raw signature value of the data-to-sign (SHA-256; ECDSA as r ‖ s, as XML-DSig wants it)."""
    return await key.sign(item.data, Digest.SHA256)


async def sign_items(
    items: Sequence[DigestItem], key: TokenKey, anchors: Sequence[x509.Certificate] = ()
) -> list[bytes | list[bytes]]:
    """Every item's output, in order, one signing time for all; the first failure propagates
    (nothing partial is returned). `anchors` complete the embedded chain (see TokenKey.completed)."""
    key = key.completed(anchors)
    options = SignOptions(signing_time=datetime.now(UTC), trust_anchors=anchors)
    out: list[bytes | list[bytes]] = []
    for item in items:
        if isinstance(item, CmsDigest):
            out.append(await sign_cms_digest(item, key, options))
        elif isinstance(item, PesDigests):
            out.append(await sign_pes_digests(item, key, options))
        else:
            out.append(await sign_raw_data(item, key))
    return out
