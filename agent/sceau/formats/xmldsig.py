"""XML-DSig / XAdES building blocks shared by detached XAdES and PES (enveloped).

We canonicalise with lxml (exclusive C14N, the only method we emit) and let the token sign the
SignedInfo digest through `TokenKey`; ECDSA XML signatures are raw r ‖ s, which is what tokens
return. Building is split so both layouts use the same code: a Signature element is assembled
with `build_signature`, then `finish_signature` computes the SignedProperties digest, signs and
optionally adds the time-stamp and validation data.
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from asn1crypto import tsp as asn1_tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from sceau.errors import Unsupported
from sceau.i18n import _
from sceau.tokens.base import Digest, SignScheme

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES132 = "http://uri.etsi.org/01903/v1.3.2#"
XADES122 = "http://uri.etsi.org/01903/v1.2.2#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SIGNED_PROPS_TYPE = "http://uri.etsi.org/01903#SignedProperties"

DIGEST_URI = {
    Digest.SHA256: "http://www.w3.org/2001/04/xmlenc#sha256",
    Digest.SHA384: "http://www.w3.org/2001/04/xmldsig-more#sha384",
    Digest.SHA512: "http://www.w3.org/2001/04/xmlenc#sha512",
}
URI_DIGEST = {v: k for k, v in DIGEST_URI.items()}
_SIG_URI = {
    (SignScheme.RSA_PKCS1V15, Digest.SHA256): "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    (SignScheme.RSA_PKCS1V15, Digest.SHA384): "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    (SignScheme.RSA_PKCS1V15, Digest.SHA512): "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    (SignScheme.RSA_PSS, Digest.SHA256): "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
    (SignScheme.RSA_PSS, Digest.SHA384): "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1",
    (SignScheme.RSA_PSS, Digest.SHA512): "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1",
    (SignScheme.ECDSA, Digest.SHA256): "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    (SignScheme.ECDSA, Digest.SHA384): "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    (SignScheme.ECDSA, Digest.SHA512): "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
}
URI_SIG = {v: k for k, v in _SIG_URI.items()}


def signature_method_uri(scheme: SignScheme, digest: Digest) -> str:
    try:
        return _SIG_URI[(scheme, digest)]
    except KeyError:
        raise Unsupported(_("Unsupported signature algorithm.")) from None


def c14n(element: etree._Element | etree._ElementTree, *, exclusive: bool = True) -> bytes:
    """Canonical form of an element's subtree, without comments."""
    data: bytes = etree.tostring(element, method="c14n", exclusive=exclusive, with_comments=False)
    return data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def xml_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sub(parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


@dataclass
class Reference:
    """One ds:Reference: what is signed and how it was digested (digest computed by the caller)."""

    uri: str
    digest_value: bytes
    transforms: Sequence[str] = ()
    ref_id: str | None = None
    ref_type: str | None = None


@dataclass
class XadesOptions:
    """What goes into SignedProperties."""

    namespace: str = XADES132
    signing_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    mime_types: dict[str, str] = field(default_factory=dict)  # reference Id → MIME type
    policy: SignaturePolicy | None = None
    claimed_role: str = ""
    city: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True)
class SignaturePolicy:
    identifier: str  # urn:oid:...
    description: str
    digest: Digest
    digest_value: bytes
    spuri: str


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def _signing_certificate(parent: etree._Element, ns: str, cert: x509.Certificate, digest: Digest) -> None:
    der = _der(cert)
    if ns == XADES132:
        # EN 319 132-1 SigningCertificateV2: digest plus the DER IssuerSerial (RFC 5035).
        el = sub(sub(parent, ns, "SigningCertificateV2"), ns, "Cert")
        cd = sub(el, ns, "CertDigest")
        sub(cd, DS, "DigestMethod", Algorithm=DIGEST_URI[digest])
        sub(cd, DS, "DigestValue", b64(digest.digest(der)))
        asn1_cert = asn1_x509.Certificate.load(der)
        issuer_serial = asn1_tsp.IssuerSerial(
            {
                "issuer": [asn1_x509.GeneralName({"directory_name": asn1_cert.issuer})],
                "serial_number": asn1_cert.serial_number,
            }
        )
        sub(el, ns, "IssuerSerialV2", b64(issuer_serial.dump()))
    else:
        # XAdES 1.2.2 (what Hélios tooling reads): digest plus issuer name and serial.
        el = sub(sub(parent, ns, "SigningCertificate"), ns, "Cert")
        cd = sub(el, ns, "CertDigest")
        sub(cd, DS, "DigestMethod", Algorithm=DIGEST_URI[digest])
        sub(cd, DS, "DigestValue", b64(digest.digest(der)))
        iss = sub(el, ns, "IssuerSerial")
        sub(iss, DS, "X509IssuerName", cert.issuer.rfc4514_string())
        sub(iss, DS, "X509SerialNumber", str(cert.serial_number))


def build_signature(
    *,
    references: Sequence[Reference],
    signature_method: str,
    digest: Digest,
    certificates: Sequence[x509.Certificate],
    options: XadesOptions,
    sig_id: str | None = None,
) -> etree._Element:
    """A ds:Signature with SignedInfo (minus the SignedProperties digest), KeyInfo and XAdES properties.

    The element is the root of its own document; `finish_signature` completes it.
    """
    ns = options.namespace
    sig_id = sig_id or new_id("S")
    sp_id = f"{sig_id}-SP"
    sig = etree.Element(f"{{{DS}}}Signature", {"Id": sig_id}, nsmap={"ds": DS, "xad": ns})
    si = sub(sig, DS, "SignedInfo")
    sub(si, DS, "CanonicalizationMethod", Algorithm=EXC_C14N)
    sub(si, DS, "SignatureMethod", Algorithm=signature_method)
    for ref in references:
        attrs = {}
        if ref.ref_id:
            attrs["Id"] = ref.ref_id
        if ref.ref_type:
            attrs["Type"] = ref.ref_type
        attrs["URI"] = ref.uri
        r = sub(si, DS, "Reference", **attrs)
        if ref.transforms:
            ts = sub(r, DS, "Transforms")
            for t in ref.transforms:
                sub(ts, DS, "Transform", Algorithm=t)
        sub(r, DS, "DigestMethod", Algorithm=DIGEST_URI[digest])
        sub(r, DS, "DigestValue", b64(ref.digest_value))
    sp_ref = sub(si, DS, "Reference", Type=SIGNED_PROPS_TYPE, URI=f"#{sp_id}")
    sub(sub(sp_ref, DS, "Transforms"), DS, "Transform", Algorithm=EXC_C14N)
    sub(sp_ref, DS, "DigestMethod", Algorithm=DIGEST_URI[digest])
    sub(sp_ref, DS, "DigestValue", "")
    sub(sig, DS, "SignatureValue", Id=f"{sig_id}-SV")
    x509data = sub(sub(sig, DS, "KeyInfo"), DS, "X509Data")
    for cert in certificates:
        sub(x509data, DS, "X509Certificate", b64(_der(cert)))

    qp = sub(sub(sig, DS, "Object"), ns, "QualifyingProperties", Target=f"#{sig_id}")
    sp = sub(qp, ns, "SignedProperties", Id=sp_id)
    ssp = sub(sp, ns, "SignedSignatureProperties")
    sub(ssp, ns, "SigningTime", xml_time(options.signing_time))
    _signing_certificate(ssp, ns, certificates[0], digest)
    if options.policy is not None:
        pol = options.policy
        spid = sub(sub(ssp, ns, "SignaturePolicyIdentifier"), ns, "SignaturePolicyId")
        sid = sub(spid, ns, "SigPolicyId")
        sub(sid, ns, "Identifier", pol.identifier)
        sub(sid, ns, "Description", pol.description)
        ph = sub(spid, ns, "SigPolicyHash")
        sub(ph, DS, "DigestMethod", Algorithm=DIGEST_URI[pol.digest])
        sub(ph, DS, "DigestValue", b64(pol.digest_value))
        quals = sub(sub(spid, ns, "SigPolicyQualifiers"), ns, "SigPolicyQualifier")
        sub(quals, ns, "SPURI", pol.spuri)
    if options.city or options.postal_code or options.country:
        place = sub(ssp, ns, "SignatureProductionPlace")
        if options.city:
            sub(place, ns, "City", options.city)
        if options.postal_code:
            sub(place, ns, "PostalCode", options.postal_code)
        if options.country:
            sub(place, ns, "CountryName", options.country)
    if options.claimed_role:
        sub(sub(sub(ssp, ns, "SignerRole"), ns, "ClaimedRoles"), ns, "ClaimedRole", options.claimed_role)
    if options.mime_types:
        sdop = sub(sp, ns, "SignedDataObjectProperties")
        for ref_id, mime in options.mime_types.items():
            sub(sub(sdop, ns, "DataObjectFormat", ObjectReference=f"#{ref_id}"), ns, "MimeType", mime)
    return sig


def child(el: etree._Element, ns: str, tag: str) -> etree._Element:
    found = el.find(f"{{{ns}}}{tag}")
    if found is None:
        raise ValueError(f"missing {tag}")
    return found


def signed_properties(sig: etree._Element) -> etree._Element:
    for ns in (XADES132, XADES122):
        found = sig.find(f"{{{DS}}}Object/{{{ns}}}QualifyingProperties/{{{ns}}}SignedProperties")
        if found is not None:
            return found
    raise ValueError("missing SignedProperties")


def xades_namespace(sig: etree._Element) -> str:
    return etree.QName(signed_properties(sig)).namespace or XADES132


def unsigned_signature_properties(sig: etree._Element) -> etree._Element:
    """The UnsignedSignatureProperties element, created when absent."""
    ns = xades_namespace(sig)
    qp = signed_properties(sig).getparent()
    assert qp is not None
    up = qp.find(f"{{{ns}}}UnsignedProperties")
    if up is None:
        up = sub(qp, ns, "UnsignedProperties")
    usp = up.find(f"{{{ns}}}UnsignedSignatureProperties")
    if usp is None:
        usp = sub(up, ns, "UnsignedSignatureProperties")
    return usp


def fill_signed_properties_digest(sig: etree._Element, digest: Digest) -> None:
    sp = signed_properties(sig)
    for ref in sig.iterfind(f"{{{DS}}}SignedInfo/{{{DS}}}Reference"):
        if ref.get("Type") == SIGNED_PROPS_TYPE:
            child(ref, DS, "DigestValue").text = b64(digest.digest(c14n(sp)))


def signed_info_c14n(sig: etree._Element) -> bytes:
    return c14n(child(sig, DS, "SignedInfo"))


def set_signature_value(sig: etree._Element, value: bytes) -> None:
    child(sig, DS, "SignatureValue").text = b64(value)


def timestamp_input(sig: etree._Element) -> bytes:
    """What a SignatureTimeStamp covers: the canonical ds:SignatureValue element."""
    return c14n(child(sig, DS, "SignatureValue"))


def add_signature_timestamp(sig: etree._Element, token_der: bytes) -> None:
    usp = unsigned_signature_properties(sig)
    ns = xades_namespace(sig)
    ts = sub(usp, ns, "SignatureTimeStamp", Id=new_id("TS"))
    sub(ts, DS, "CanonicalizationMethod", Algorithm=EXC_C14N)
    sub(ts, ns, "EncapsulatedTimeStamp", b64(token_der))


def add_validation_data(
    sig: etree._Element, certificates: Sequence[bytes], crls: Sequence[bytes], ocsps: Sequence[bytes]
) -> None:
    """XAdES B-LT: CertificateValues and RevocationValues."""
    usp = unsigned_signature_properties(sig)
    ns = xades_namespace(sig)
    if certificates:
        cv = sub(usp, ns, "CertificateValues")
        for der in certificates:
            sub(cv, ns, "EncapsulatedX509Certificate", b64(der))
    if crls or ocsps:
        rv = sub(usp, ns, "RevocationValues")
        if crls:
            cl = sub(rv, ns, "CRLValues")
            for der in crls:
                sub(cl, ns, "EncapsulatedCRLValue", b64(der))
        if ocsps:
            ol = sub(rv, ns, "OCSPValues")
            for der in ocsps:
                sub(ol, ns, "EncapsulatedOCSPValue", b64(der))


def remove_keeping_tail(el: etree._Element) -> None:
    """Remove an element but keep the text that follows it (lxml stores it on the element)."""
    parent = el.getparent()
    assert parent is not None
    tail = el.tail or ""
    prev = el.getprevious()
    if prev is not None:
        prev.tail = (prev.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(el)


def enveloped_c14n(target: etree._Element, signature: etree._Element | None, *, exclusive: bool = True) -> bytes:
    """The enveloped-signature transform then C14N, on a copy so the document is untouched."""
    if signature is None:
        return c14n(target, exclusive=exclusive)
    path = _path_to(target, signature)
    clone = copy.deepcopy(target)
    node = clone
    for index in path:
        node = node[index]
    remove_keeping_tail(node)
    return c14n(clone, exclusive=exclusive)


def _path_to(ancestor: etree._Element, el: etree._Element) -> list[int]:
    path: list[int] = []
    node = el
    while node is not ancestor:
        parent = node.getparent()
        if parent is None:
            raise ValueError("signature not inside the signed element")
        path.append(parent.index(node))
        node = parent
    return list(reversed(path))
