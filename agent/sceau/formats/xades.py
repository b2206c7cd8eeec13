"""XAdES detached signatures (EN 319 132 baseline, namespace 1.3.2): `NAME - Signature N.xml`.

The document is referenced by its (percent-encoded) file name and digested as raw bytes; the
SignedProperties carry SigningTime, SigningCertificateV2 and DataObjectFormat (MIME type).
B-T adds a SignatureTimeStamp over ds:SignatureValue; B-LT adds CertificateValues and
RevocationValues (signer and TSA chains).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from cryptography import x509
from lxml import etree

from sceau.formats import ltv, xmldsig
from sceau.formats.options import Level, SignOptions
from sceau.formats.signer import TokenKey


async def finish_signature(sig: etree._Element, key: TokenKey, options: SignOptions) -> None:
    """SignedProperties digest, the token's signature, then B-T / B-LT additions."""
    xmldsig.fill_signed_properties_digest(sig, options.digest)
    value = await key.sign(xmldsig.signed_info_c14n(sig), options.digest)
    xmldsig.set_signature_value(sig, value)
    tsa_chain: list[x509.Certificate] = []
    if options.level.timestamped:
        assert options.tsa is not None
        ts = await options.tsa.timestamp_data(xmldsig.timestamp_input(sig), options.digest)
        xmldsig.add_signature_timestamp(sig, ts.der)
        tsa_chain = [ts.tsa_certificate]
    if options.level is Level.B_LT:
        data = await ltv.collect(key.certificate, list(key.chain), options.trust_anchors)
        for tsa_cert in tsa_chain:
            data.merge(await ltv.collect(tsa_cert, list(key.chain), options.trust_anchors))
        xmldsig.add_validation_data(sig, data.certificates, data.crls, data.ocsps)


def reference_uri(name: str) -> str:
    """The document's file name as a relative URI (spaces and accents percent-encoded)."""
    return quote(name, safe="")


async def sign_detached(data: bytes, name: str, mime_type: str, key: TokenKey, options: SignOptions) -> bytes:
    """A detached XAdES signature of `data` (file `name`), as UTF-8 XML bytes."""
    return await sign_detached_digest(options.digest.digest(data), name, mime_type, key, options)


async def sign_detached_digest(
    content_digest: bytes, name: str, mime_type: str, key: TokenKey, options: SignOptions
) -> bytes:
    """Same, from the document's hash (large files are hashed as a stream by the caller)."""
    options.check()
    key = key.completed(options.trust_anchors)
    sig_id = xmldsig.new_id("S")
    ref_id = f"{sig_id}-R0"
    xopts = xmldsig.XadesOptions(
        namespace=xmldsig.XADES132,
        signing_time=options.signing_time or datetime.now(UTC),
        mime_types={ref_id: mime_type or "application/octet-stream"},
    )
    ref = xmldsig.Reference(uri=reference_uri(name), digest_value=content_digest, ref_id=ref_id)
    sig = xmldsig.build_signature(
        references=[ref],
        signature_method=xmldsig.signature_method_uri(key.sign_scheme, options.digest),
        digest=options.digest,
        certificates=[key.certificate, *key.chain],
        options=xopts,
        sig_id=sig_id,
    )
    await finish_signature(sig, key, options)
    out: bytes = etree.tostring(sig, xml_declaration=True, encoding="UTF-8")
    return out
