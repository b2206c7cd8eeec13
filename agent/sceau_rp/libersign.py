"""The server side of a LiberSign-style platform (S²low, Pastell): compute what the page signs, then
check and insert what comes back. Written from the platforms' public behaviour, sharing nothing with
the agent's signing code (so the tests check the agent with code that is not the agent's).

- ACTES: `sha1_hex(file)` is the page's `hash`; `verify_actes_signature(returned, file)` base64-decodes
  the PEM detached PKCS#7 and checks it against the file (messageDigest, signature, signer chain).
- Hélios: `pes_signature_info(pes)` gives the comma-joined SHA-256 of each Bordereau's exclusive C14N
  (serialised alone) and their Ids; `insert_pes_signatures(pes, returned)` pastes each returned
  document's first child (the `ds:Signature`) as the last child of the n-th Bordereau (or of the root),
  the way those servers do with DOM; `verify_pes_signatures(signed)` checks every enveloped signature.
- Data-to-sign: `verify_data_signature(data, signature, certificate)`.

Needs `cryptography`, `asn1crypto` and `lxml` (the webeid module needs only the first).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_XML_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "http://www.w3.org/2001/04/xmlenc#sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashes.SHA512,
}
_XML_SIGNATURES: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": ("rsa", hashes.SHA256),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": ("rsa", hashes.SHA384),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": ("rsa", hashes.SHA512),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": ("ec", hashes.SHA256),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": ("ec", hashes.SHA384),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": ("ec", hashes.SHA512),
}
_CMS_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class SignatureCheckError(ValueError):
    """What the platform tells its user when a returned signature does not hold."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def sha1_hex(data: bytes) -> str:
    """The ACTES page's `hash` for a file."""
    return hashlib.sha1(data).hexdigest()  # noqa: S324 - the ACTES contract


@dataclass(frozen=True)
class PesSignatureInfo:
    hashes: list[str]  # SHA-256 hex, one per signed element
    ids: list[str]
    is_bordereau: bool  # False: the whole PES_Aller is signed

    @property
    def hash(self) -> str:
        return ",".join(self.hashes)

    @property
    def pesid(self) -> str:
        return ",".join(self.ids)


def _bordereaux(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if _local(el) == "Bordereau"]


def pes_signature_info(pes: bytes) -> PesSignatureInfo:
    """Digests to sign: every Bordereau when all carry an Id, else the root (which must have one)."""
    root = etree.fromstring(pes, _parser())
    flows = ("PES_DepenseAller", "PES_RecetteAller")
    bordereaux = [b for b in _bordereaux(root) if (p := b.getparent()) is not None and _local(p) in flows]
    if bordereaux and all(b.get("Id") for b in bordereaux):
        targets, is_bordereau = bordereaux, True
    elif root.get("Id"):
        targets, is_bordereau = [root], False
    else:
        raise SignatureCheckError(
            "Le fichier PES n'a pas d'identifiant de bordereau ni de PES_Aller : signature impossible."
        )
    hashes_ = []
    for el in targets:
        # Serialised alone, then exclusive C14N without comments (what the servers hash).
        alone = etree.fromstring(etree.tostring(el), _parser())
        hashes_.append(
            hashlib.sha256(etree.tostring(alone, method="c14n", exclusive=True, with_comments=False)).hexdigest()
        )
    return PesSignatureInfo(hashes_, [str(el.get("Id")) for el in targets], is_bordereau)


def _returned_signature(document_b64: str) -> etree._Element:
    try:
        doc = etree.fromstring(base64.b64decode(document_b64, validate=True), _parser())
    except (binascii.Error, ValueError, etree.XMLSyntaxError):
        raise SignatureCheckError("La signature renvoyée n'est pas un document XML en base64.") from None
    # DOM's firstChild->firstChild: the very first node, so no text may precede the signature.
    if (doc.text or "") != "" or len(doc) == 0 or doc[0].tag != f"{{{DS}}}Signature":
        raise SignatureCheckError("Le document renvoyé ne commence pas par ds:Signature.")
    return doc[0]


def insert_pes_signatures(pes: bytes, returned: str | Sequence[str], *, is_bordereau: bool = True) -> bytes:
    """The PES with each returned signature appended to the n-th Bordereau (or to the root)."""
    parts = returned.split(",") if isinstance(returned, str) else list(returned)
    tree = etree.ElementTree(etree.fromstring(pes, _parser()))
    root = tree.getroot()
    targets = _bordereaux(root) if is_bordereau else [root]
    if len(parts) > len(targets):
        raise SignatureCheckError("Plus de signatures que de bordereaux.")
    for target, part in zip(targets, parts, strict=False):
        signature = copy.deepcopy(_returned_signature(part))
        signature.tail = None
        target.append(signature)
    encoding = etree.fromstring(pes, _parser()).getroottree().docinfo.encoding or "UTF-8"
    out = etree.tostring(tree, encoding=encoding, xml_declaration=True)
    assert isinstance(out, bytes)
    return out


def _c14n(el: etree._Element) -> bytes:
    out: bytes = etree.tostring(el, method="c14n", exclusive=True, with_comments=False)
    return out


def _digest(alg: type[hashes.HashAlgorithm], data: bytes) -> bytes:
    h = hashes.Hash(alg())
    h.update(data)
    return h.finalize()


def _verify_raw(cert: x509.Certificate, kind: str, alg: hashes.HashAlgorithm, signature: bytes, data: bytes) -> None:
    key = cert.public_key()
    try:
        if kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), alg)
        elif kind == "ec" and isinstance(key, ec.EllipticCurvePublicKey):
            half = len(signature) // 2
            der = utils.encode_dss_signature(int.from_bytes(signature[:half]), int.from_bytes(signature[half:]))
            key.verify(der, data, ec.ECDSA(alg))
        else:
            raise SignatureCheckError("Type de clé inattendu pour cet algorithme de signature.")
    except InvalidSignature:
        raise SignatureCheckError("La valeur de signature est fausse.") from None


def _without(target: etree._Element, index: int) -> etree._Element:
    """A copy of `target` without its child `index` (the enveloped-signature transform), text kept."""
    clone = copy.deepcopy(target)
    child = clone[index]
    tail = child.tail or ""
    prev = child.getprevious()
    if prev is not None:
        prev.tail = (prev.tail or "") + tail
    else:
        clone.text = (clone.text or "") + tail
    clone.remove(child)
    return clone


@dataclass(frozen=True)
class PesSignatureCheck:
    target_id: str
    certificate: x509.Certificate
    policy_identifier: str
    policy_hash: str  # base64, as in the file


def _verify_one(sig: etree._Element, ids: dict[str, etree._Element]) -> PesSignatureCheck:
    def one(el: etree._Element, path: str) -> etree._Element:
        found = el.find(path, {"ds": DS})
        if found is None:
            raise SignatureCheckError(f"Élément manquant : {path}")
        return found

    signed_info = one(sig, "ds:SignedInfo")
    if one(signed_info, "ds:CanonicalizationMethod").get("Algorithm") != EXC_C14N:
        raise SignatureCheckError("Canonicalisation inattendue.")
    method = _XML_SIGNATURES.get(one(signed_info, "ds:SignatureMethod").get("Algorithm", ""))
    if method is None:
        raise SignatureCheckError("Algorithme de signature non accepté.")
    cert_b64 = "".join((one(sig, "ds:KeyInfo/ds:X509Data/ds:X509Certificate").text or "").split())
    cert = x509.load_der_x509_certificate(base64.b64decode(cert_b64))
    target_id = ""
    for ref in signed_info.iterfind(f"{{{DS}}}Reference"):
        uri = ref.get("URI", "")
        if not uri.startswith("#") or uri[1:] not in ids:
            raise SignatureCheckError(f"Référence introuvable : {uri[:60]}")
        target = ids[uri[1:]]
        transforms = [t.get("Algorithm") for t in ref.iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform")]
        if ENVELOPED in transforms:
            if sig.getparent() is not target:
                raise SignatureCheckError("La signature n'est pas dans l'élément qu'elle signe.")
            data = _c14n(_without(target, target.index(sig)))
            target_id = uri[1:]
        else:
            data = _c14n(target)
        if any(t not in (ENVELOPED, EXC_C14N) for t in transforms):
            raise SignatureCheckError("Transformation non acceptée.")
        alg = _XML_DIGESTS.get(one(ref, "ds:DigestMethod").get("Algorithm", ""))
        if alg is None:
            raise SignatureCheckError("Algorithme d'empreinte non accepté.")
        if base64.b64decode(one(ref, "ds:DigestValue").text or "") != _digest(alg, data):
            raise SignatureCheckError(f"L'empreinte de {uri} ne correspond pas : contenu modifié.")
    if not target_id:
        raise SignatureCheckError("Aucune référence enveloppée.")
    value = base64.b64decode("".join((one(sig, "ds:SignatureValue").text or "").split()))
    _verify_raw(cert, method[0], method[1](), value, _c14n(signed_info))
    ident = sig.find(".//{*}SignaturePolicyId/{*}SigPolicyId/{*}Identifier")
    phash = sig.find(".//{*}SignaturePolicyId/{*}SigPolicyHash/{http://www.w3.org/2000/09/xmldsig#}DigestValue")
    return PesSignatureCheck(
        target_id,
        cert,
        (ident.text or "") if ident is not None else "",
        (phash.text or "") if phash is not None else "",
    )


def verify_pes_signatures(signed: bytes) -> list[PesSignatureCheck]:
    """Check every ds:Signature of a signed PES (references, value); one result per signature."""
    root = etree.fromstring(signed, _parser())
    ids = {str(el.get("Id")): el for el in root.iter() if isinstance(el.tag, str) and el.get("Id")}
    sigs = list(root.iter(f"{{{DS}}}Signature"))
    if not sigs:
        raise SignatureCheckError("Le fichier PES n'est pas signé.")
    return [_verify_one(sig, ids) for sig in sigs]


def pem_to_der(returned: str) -> bytes:
    """base64 of a PEM PKCS#7 (what LiberSign returns for CMS) → DER."""
    try:
        pem = base64.b64decode(returned, validate=True).decode("ascii")
        body = pem.split("-----BEGIN ", 1)[1].split("-----", 1)[1].split("-----END ", 1)[0]
        return base64.b64decode("".join(body.split()))
    except (binascii.Error, ValueError, IndexError, UnicodeDecodeError):
        raise SignatureCheckError("La signature renvoyée n'est pas un PKCS#7 PEM en base64.") from None


def _chain_ok(cert: x509.Certificate, pool: Sequence[x509.Certificate], roots: Sequence[x509.Certificate]) -> bool:
    current = cert
    for _ in range(8):
        if any(current == r for r in roots):
            return True
        for issuer in [*roots, *pool]:
            if issuer.subject == current.issuer and issuer != current:
                try:
                    current.verify_directly_issued_by(issuer)
                except (ValueError, TypeError, InvalidSignature):
                    continue
                if any(issuer == r for r in roots):
                    return True
                current = issuer
                break
        else:
            return False
    return False


def verify_actes_signature(
    returned: str, content: bytes, *, trusted: Sequence[x509.Certificate] = ()
) -> x509.Certificate:
    """Check an ACTES detached signature against the file; returns the signer's certificate.
    With `trusted` roots, the signer must chain to one of them (embedded certificates as intermediates)."""
    der = pem_to_der(returned)
    try:
        info = cms.ContentInfo.load(der)
        signed = info["content"]
        signer = signed["signer_infos"][0]
        certs = [x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"]]
        alg_name = signer["digest_algorithm"]["algorithm"].native
        attrs = {a["type"].native: a["values"][0].native for a in signer["signed_attrs"]}
        sid = signer["sid"].chosen
        signed_attrs = b"\x31" + signer["signed_attrs"].dump()[1:]
        signature = signer["signature"].native
        sig_alg = signer["signature_algorithm"]["algorithm"].native
    except (ValueError, KeyError, TypeError, IndexError):
        raise SignatureCheckError("Structure PKCS#7 illisible.") from None
    alg = _CMS_DIGESTS.get(alg_name)
    if alg is None:
        raise SignatureCheckError("Algorithme d'empreinte non accepté.")
    if attrs.get("message_digest") != _digest(alg, content):
        raise SignatureCheckError("La signature ne porte pas sur ce fichier.")
    signer_cert = next(
        (
            c
            for c in certs
            if c.serial_number == sid["serial_number"].native and c.issuer.public_bytes() == sid["issuer"].dump()
        ),
        None,
    )
    if signer_cert is None:
        raise SignatureCheckError("Certificat du signataire absent.")
    kind = "ec" if "ecdsa" in sig_alg else "rsa"
    if kind == "ec":
        key = signer_cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        try:
            key.verify(signature, signed_attrs, ec.ECDSA(alg()))
        except InvalidSignature:
            raise SignatureCheckError("La valeur de signature est fausse.") from None
    else:
        _verify_raw(signer_cert, "rsa", alg(), signature, signed_attrs)
    if trusted and not _chain_ok(signer_cert, certs, trusted):
        raise SignatureCheckError("Le certificat du signataire n'est pas émis par une autorité reconnue.")
    return signer_cert


def verify_data_signature(data_to_sign: bytes, signature: bytes, certificate: x509.Certificate) -> None:
    """Check a raw data-to-sign signature (SHA-256; RSA PKCS#1 v1.5, or ECDSA as r ‖ s)."""
    key = certificate.public_key()
    _verify_raw(
        certificate,
        "ec" if isinstance(key, ec.EllipticCurvePublicKey) else "rsa",
        hashes.SHA256(),
        signature,
        data_to_sign,
    )
