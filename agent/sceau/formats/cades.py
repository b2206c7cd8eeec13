"""CAdES signatures (DER, EN 319 122 baseline) built with asn1crypto: detached `.p7s`, or
attached (the document inside, e.g. a bid signed then encrypted).

B-B: contentType, messageDigest, signingTime, signingCertificateV2 signed attributes.
B-T: signature-time-stamp unsigned attribute (RFC 3161 token over the signature value).
B-LT: the certificate paths and CRL / OCSP answers in SignedData.certificates / .crls.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime

from asn1crypto import cms, core, ocsp
from asn1crypto import tsp as asn1_tsp
from asn1crypto import x509 as asn1_x509

from sceau.formats import cmsutil, ltv
from sceau.formats.options import Level, SignOptions
from sceau.formats.signer import TokenKey
from sceau.tokens.base import Digest


def _signing_certificate_v2(cert_der: bytes) -> asn1_tsp.SigningCertificateV2:
    cert = asn1_x509.Certificate.load(cert_der)
    return asn1_tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    # SHA-256 is the default hashAlgorithm and is then omitted from the DER.
                    "cert_hash": hashlib.sha256(cert_der).digest(),
                    "issuer_serial": {
                        "issuer": [asn1_x509.GeneralName({"directory_name": cert.issuer})],
                        "serial_number": cert.serial_number,
                    },
                }
            ]
        }
    )


def _attr(name: str, value: object) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": name, "values": [value]})


@functools.lru_cache(maxsize=32)
def _signing_certificate_attr_der(cert_der: bytes) -> bytes:
    """The signingCertificateV2 attribute, encoded once per certificate: asn1crypto takes tens of
    milliseconds to encode the issuer name, which made every signature of a batch pay for it."""
    der: bytes = _attr("signing_certificate_v2", _signing_certificate_v2(cert_der)).dump()
    return der


def signed_attributes(content_digest: bytes, cert_der: bytes, when: datetime) -> cms.CMSAttributes:
    attrs = [
        _attr("content_type", "data"),
        _attr("message_digest", content_digest),
        _attr("signing_time", cms.Time({"utc_time": core.UTCTime(when.astimezone(UTC))})),
        cms.CMSAttribute.load(_signing_certificate_attr_der(cert_der)),
    ]
    # DER: a SET OF is sorted by the encodings of its elements.
    attrs.sort(key=lambda a: a.dump())
    return cms.CMSAttributes(attrs)


async def sign_digest(
    content_digest: bytes, key: TokenKey, options: SignOptions, *, attached: bytes | None = None
) -> bytes:
    """A detached CAdES signature for content whose `options.digest` hash is `content_digest`
    (`attached`: that content, encapsulated in the signature)."""
    options.check()
    key = key.completed(options.trust_anchors)
    digest = options.digest
    when = options.signing_time or datetime.now(UTC)
    certs_der = key.certificates_der()
    signed_attrs = signed_attributes(content_digest, certs_der[0], when)
    to_sign = signed_attrs.dump()
    signature = await key.sign_cms(to_sign, digest)
    cert = asn1_x509.Certificate.load(certs_der[0])
    signer_info = {
        "version": "v1",
        "sid": cms.SignerIdentifier(
            {"issuer_and_serial_number": {"issuer": cert.issuer, "serial_number": cert.serial_number}}
        ),
        "digest_algorithm": cmsutil.digest_algorithm_id(digest),
        "signed_attrs": signed_attrs,
        "signature_algorithm": key.cms_signature_algorithm(digest),
        "signature": signature,
    }
    all_certs = list(certs_der)
    crls: list[cms.RevocationInfoChoice] = []
    if options.level.timestamped:
        assert options.tsa is not None
        ts = await options.tsa.timestamp(digest.digest(signature), digest)
        signer_info["unsigned_attrs"] = cms.CMSAttributes([_attr("signature_time_stamp_token", ts.token)])
        tsa_certs = [c.dump() for c in cmsutil.embedded_certificates(ts.token["content"])]
        if options.level is Level.B_LT:
            data = await ltv.collect(key.certificate, list(key.chain), options.trust_anchors)
            data.merge(await ltv.collect(ts.tsa_certificate, list(key.chain), options.trust_anchors))
            for der in [*data.certificates, *tsa_certs]:
                if der not in all_certs:
                    all_certs.append(der)
            crls = [cms.RevocationInfoChoice({"crl": cms.CertificateList.load(c)}) for c in data.crls]
            crls += [
                cms.RevocationInfoChoice(
                    {"other": {"other_rev_info_format": "ocsp_response", "other_rev_info": ocsp.OCSPResponse.load(o)}}
                )
                for o in data.ocsps
            ]
    eci: dict[str, object] = {"content_type": "data"}  # detached: no eContent
    if attached is not None:
        eci["content"] = attached
    signed_data = {
        "version": "v1",
        "digest_algorithms": [cmsutil.digest_algorithm_id(digest)],
        "encap_content_info": eci,
        "certificates": [asn1_x509.Certificate.load(c) for c in all_certs],
        "signer_infos": [signer_info],
    }
    if crls:
        signed_data["crls"] = crls
    info = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})
    out: bytes = info.dump()
    return out


async def sign_detached(data: bytes, key: TokenKey, options: SignOptions) -> bytes:
    return await sign_digest(options.digest.digest(data), key, options)


async def sign_attached(data: bytes, key: TokenKey, options: SignOptions) -> bytes:
    """An attached CAdES signature: `data` travels inside (held in memory, so for moderate sizes)."""
    return await sign_digest(options.digest.digest(data), key, options, attached=data)


def content_digest(data: bytes, digest: Digest) -> bytes:
    return digest.digest(data)
