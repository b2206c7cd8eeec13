"""A trusted list's XML signature, checked with the project's XML-DSig / XAdES verifier.

TS 119 612 (clause 5.7, annex B) requires one enveloped XAdES signature over the whole list. We
check the shape first (exactly one ds:Signature, a child of the root, whose only data reference is
the whole document with the enveloped transform: no wrapping), then run `formats.xmlverify` (the
same code path as `sceau verify`) and accept only a signer certificate from the expected set.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from sceau.errors import InvalidInput
from sceau.formats import xmldsig, xmlsafe
from sceau.i18n import _
from sceau.trust.tsl import MAX_TSL

DS = xmldsig.DS


class ListSignatureError(InvalidInput):
    """The list's signature is missing, malformed, invalid or by a key not announced for it."""


def _shape(root: etree._Element) -> None:
    sigs = list(root.iter(f"{{{DS}}}Signature"))
    if len(sigs) != 1 or sigs[0].getparent() is not root:
        raise ListSignatureError(_("The trusted list must carry exactly one enveloped signature."))
    root_id = root.get("Id")
    data_refs = [
        r
        for r in sigs[0].iterfind(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
        if r.get("Type") != xmldsig.SIGNED_PROPS_TYPE
    ]
    if len(data_refs) != 1:
        raise ListSignatureError(_("The trusted list's signature must cover the whole list."))
    uri = data_refs[0].get("URI")
    transforms = [t.get("Algorithm") for t in data_refs[0].iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform")]
    if not (uri == "" or (root_id and uri == f"#{root_id}")) or xmldsig.ENVELOPED not in transforms:
        raise ListSignatureError(_("The trusted list's signature must cover the whole list."))


async def verify_list_signature(data: bytes, allowed: Sequence[x509.Certificate]) -> x509.Certificate:
    """The signer certificate when the list's signature is valid and by one of `allowed`."""
    from sceau.formats.verify import VerifyOptions
    from sceau.formats.xmlverify import verify_xml

    tree = xmlsafe.parse_xml(data, max_size=MAX_TSL)
    _shape(tree.getroot())
    _kind, reports = await verify_xml(data, VerifyOptions())
    report = reports[0]
    if not (report.integrity and report.signature_valid) or report.signer_certificate is None:
        raise ListSignatureError(_("The trusted list's signature is not valid (the list was altered)."))
    signer = report.signer_certificate
    der = signer.public_bytes(Encoding.DER)
    if not any(c.public_bytes(Encoding.DER) == der for c in allowed):
        raise ListSignatureError(
            _("The trusted list is signed by a certificate that is not announced for it: {subject}").format(
                subject=signer.subject.rfc4514_string()[:160]
            )
        )
    return signer
