"""XML-DSig / XAdES verification (detached XAdES and enveloped PES signatures).

Supported: exclusive and inclusive C14N 1.0, enveloped-signature transform, same-document
references by Id (never through DTD-declared IDs), `URI=""`, and one detached document given
by the caller. Anything else is reported as unsupported rather than guessed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from urllib.parse import unquote

from asn1crypto import algos, cms
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from pyhanko_certvalidator import CertificateValidator
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InsufficientRevinfoError,
    NotYetValidError,
    PathBuildingError,
    RevokedError,
    ValidationError,
)
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from sceau.errors import InvalidInput
from sceau.formats import cmsutil, tsp, xmldsig, xmlsafe
from sceau.formats.ltv import close_backend
from sceau.formats.report import Revocation, SignatureReport, has_revocation_pointers
from sceau.formats.signer import ecdsa_raw_to_der
from sceau.formats.verify import VerifyOptions, make_vc
from sceau.i18n import _
from sceau.tokens.base import SignScheme

DS = xmldsig.DS
SHA1_URI = "http://www.w3.org/2000/09/xmldsig#sha1"
_C14N = {xmldsig.EXC_C14N: True, xmldsig.C14N10: False}


class _Unsupported(Exception):
    pass


def _b64(text: str | None) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise _Unsupported("invalid base64 value") from None


def _reference_data(ref: etree._Element, sig: etree._Element, tree: etree._ElementTree, opts: VerifyOptions) -> bytes:
    uri = ref.get("URI")
    transforms = [t.get("Algorithm", "") for t in ref.iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform")]
    if uri is None:
        raise _Unsupported("reference without URI")
    if uri == "" or uri.startswith("#"):
        if uri == "":
            target: etree._Element | etree._ElementTree = tree
            root = tree.getroot()
        else:
            found = xmlsafe.find_by_id(tree.getroot(), uri[1:])
            if len(found) != 1:
                raise _Unsupported("the referenced element is missing or its Id is not unique")
            target = root = found[0]
        envelope = xmldsig.ENVELOPED in transforms
        c14n_algs = [t for t in transforms if t in _C14N]
        if set(transforms) - {xmldsig.ENVELOPED, *_C14N}:
            raise _Unsupported("unsupported transform")
        exclusive = _C14N[c14n_algs[-1]] if c14n_algs else False
        if envelope:
            if uri == "":
                return xmldsig.enveloped_c14n(root, sig, exclusive=exclusive)
            return xmldsig.enveloped_c14n(root, sig, exclusive=exclusive)
        return xmldsig.c14n(target, exclusive=exclusive)
    if transforms:
        raise _Unsupported("transforms on a detached document")
    if opts.detached is None:
        raise InvalidInput(_("This signature is detached: give the signed document too."))
    if opts.detached_name and unquote(uri) != opts.detached_name:
        raise _Unsupported("the signature refers to another file name")
    return opts.detached


def _verify_signed_info(sig: etree._Element, cert: x509.Certificate) -> bool:
    si = xmldsig.child(sig, DS, "SignedInfo")
    c14n_alg = xmldsig.child(si, DS, "CanonicalizationMethod").get("Algorithm", "")
    if c14n_alg not in _C14N:
        raise _Unsupported("unsupported canonicalisation")
    method = xmldsig.child(si, DS, "SignatureMethod").get("Algorithm", "")
    if method not in xmldsig.URI_SIG:
        raise _Unsupported("unsupported signature algorithm")
    scheme, digest = xmldsig.URI_SIG[method]
    value = _b64(xmldsig.child(sig, DS, "SignatureValue").text)
    data = xmldsig.c14n(si, exclusive=_C14N[c14n_alg])
    if scheme is SignScheme.ECDSA:
        value = ecdsa_raw_to_der(value)
        alg = algos.SignedDigestAlgorithm({"algorithm": f"{digest.value}_ecdsa"})
    elif scheme is SignScheme.RSA_PSS:
        alg = algos.SignedDigestAlgorithm(
            {
                "algorithm": "rsassa_pss",
                "parameters": {
                    "hash_algorithm": {"algorithm": digest.value},
                    "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": digest.value}},
                    "salt_length": digest.size,
                },
            }
        )
    else:
        alg = algos.SignedDigestAlgorithm({"algorithm": f"{digest.value}_rsa"})
    ok: bool = cmsutil.verify_raw(cert, alg, digest.value, value, data)
    return ok


def _certificates(sig: etree._Element) -> list[x509.Certificate]:
    out = []
    for el in sig.iterfind(f"{{{DS}}}KeyInfo//{{{DS}}}X509Certificate"):
        out.append(x509.load_der_x509_certificate(_b64(el.text)))
    for el in sig.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname == "EncapsulatedX509Certificate":
            out.append(x509.load_der_x509_certificate(_b64(el.text)))
    return out


def _xades_checks(report: SignatureReport, sig: etree._Element, cert: x509.Certificate) -> None:
    try:
        sp = xmldsig.signed_properties(sig)
    except ValueError:
        report.problems.append("No XAdES signed properties.")
        return
    covered = {
        ref.get("URI")
        for ref in sig.iterfind(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
        if ref.get("Type") == xmldsig.SIGNED_PROPS_TYPE
    }
    if not sp.get("Id") or f"#{sp.get('Id')}" not in covered:
        # Unsigned properties could be swapped at will: signing time, certificate reference...
        report.problems.append("The XAdES signed properties are not covered by the signature.")
        report.signature_valid = False
        return
    ns = etree.QName(sp).namespace
    when = sp.findtext(f".//{{{ns}}}SigningTime")
    if when:
        try:
            report.claimed_time = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            report.problems.append("Unreadable signing time.")
    digest_el = sp.find(f".//{{{ns}}}CertDigest")
    if digest_el is None:
        report.problems.append("The signing certificate is not referenced in the signed properties.")
        report.signature_valid = False
        return
    alg = digest_el.find(f"{{{DS}}}DigestMethod")
    alg_uri = alg.get("Algorithm", "") if alg is not None else ""
    digest = xmldsig.URI_DIGEST.get(alg_uri)
    expected = _b64(digest_el.findtext(f"{{{DS}}}DigestValue"))
    der = cert.public_bytes(Encoding.DER)
    if alg_uri == SHA1_URI:
        # XAdES SigningCertificate (v1) names the certificate by its SHA-1, as the French and other
        # national trusted lists do; it identifies the certificate, the signature itself is SHA-2.
        actual = hashlib.sha1(der, usedforsecurity=False).digest()
    else:
        actual = digest.digest(der) if digest is not None else b""
    if not actual or actual != expected:
        report.problems.append("The signing certificate does not match the signed properties.")
        report.signature_valid = False


def _timestamp(report: SignatureReport, sig: etree._Element) -> None:
    for ts_el in sig.iter():
        if not isinstance(ts_el.tag, str) or etree.QName(ts_el).localname != "SignatureTimeStamp":
            continue
        ns = etree.QName(ts_el).namespace
        method = ts_el.find(f"{{{DS}}}CanonicalizationMethod")
        exclusive = _C14N.get(method.get("Algorithm", "") if method is not None else xmldsig.C14N10, False)
        try:
            token = cms.ContentInfo.load(_b64(ts_el.findtext(f"{{{ns}}}EncapsulatedTimeStamp")))
            tst = token["content"]["encap_content_info"]["content"].parsed
            alg = tst["message_imprint"]["hash_algorithm"]["algorithm"].native
            covered = xmldsig.c14n(xmldsig.child(sig, DS, "SignatureValue"), exclusive=exclusive)
            checked = tsp.check_token(token, cmsutil.digest_bytes(alg, covered), None, None)
            report.timestamp, report.timestamp_valid = checked.time, True
        except (InvalidInput, ValueError, KeyError, TypeError, _Unsupported):
            report.timestamp_valid = False
        report.level = "B-T"
        return


async def _chain(
    report: SignatureReport,
    cert: x509.Certificate,
    others: list[x509.Certificate],
    sig: etree._Element,
    opts: VerifyOptions,
) -> None:
    if not opts.anchors and not opts.lists:
        report.trust_reason = "no trust anchor is configured"
        return
    crls = [
        _b64(e.text)
        for e in sig.iter()
        if isinstance(e.tag, str) and etree.QName(e).localname == "EncapsulatedCRLValue"
    ]
    ocsps = [
        _b64(e.text)
        for e in sig.iter()
        if isinstance(e.tag, str) and etree.QName(e).localname == "EncapsulatedOCSPValue"
    ]
    if crls or ocsps:
        report.level = "B-LT" if report.timestamp else report.level
    asn_others = [cmsutil.asn1_from_crypto(c) for c in others]
    for soft in (False, True):
        backend = AIOHttpFetcherBackend(per_request_timeout=10) if opts.online else None
        vc = make_vc(
            opts,
            others=asn_others,
            crls=crls,
            ocsps=ocsps,
            mode="soft-fail" if soft else "hard-fail",
            backend=backend,
            moment=report.timestamp,
            leaf=cmsutil.asn1_from_crypto(cert),
        )
        try:
            await CertificateValidator(
                cmsutil.asn1_from_crypto(cert), asn_others, validation_context=vc
            ).async_validate_path()
            report.trusted = True
            report.revocation = (
                Revocation.GOOD if not soft else (Revocation.OFFLINE if not opts.online else Revocation.UNKNOWN)
            )
            if report.revocation is Revocation.GOOD and not has_revocation_pointers(cert):
                report.revocation = Revocation.NONE
            return
        except RevokedError:
            report.revocation, report.trust_reason = Revocation.REVOKED, "the certificate is revoked"
            return
        except InsufficientRevinfoError:
            continue
        except ExpiredError:
            report.trust_reason = "the certificate has expired"
            return
        except NotYetValidError:
            report.trust_reason = "the certificate is not yet valid"
            return
        except PathBuildingError:
            report.trust_reason = "no chain to a trusted certification authority"
            return
        except ValidationError:
            report.trust_reason = "the certificate chain could not be validated"
            return
        finally:
            await close_backend(backend)


async def verify_xml(data: bytes, opts: VerifyOptions) -> tuple[str, list[SignatureReport]]:
    tree = xmlsafe.parse_xml(data)
    root = tree.getroot()
    kind = "pes" if etree.QName(root).localname == "PES_Aller" else "xades"
    reports: list[SignatureReport] = []
    for sig in list(root.iter(f"{{{DS}}}Signature")):
        report = SignatureReport(format=kind)
        reports.append(report)
        try:
            certs = _certificates(sig)
            if not certs:
                raise _Unsupported("no certificate in the signature")
            cert = certs[0]
            report.signer = _cn(cert.subject)
            report.issuer = _cn(cert.issuer)
            report.signer_certificate = cert
            report.certificates = certs[1:]
            report.integrity = True
            for ref in sig.iterfind(f"{{{DS}}}SignedInfo/{{{DS}}}Reference"):
                alg = ref.find(f"{{{DS}}}DigestMethod")
                digest = xmldsig.URI_DIGEST.get(alg.get("Algorithm", "") if alg is not None else "")
                if digest is None:
                    raise _Unsupported("unsupported digest algorithm")
                expected = _b64(ref.findtext(f"{{{DS}}}DigestValue"))
                if digest.digest(_reference_data(ref, sig, tree, opts)) != expected:
                    report.integrity = False
            report.signature_valid = _verify_signed_info(sig, cert)
            _xades_checks(report, sig, cert)
            _timestamp(report, sig)
            when = report.timestamp or report.claimed_time
            if when is not None:
                report.cert_valid_at_signing = cert.not_valid_before_utc <= when <= cert.not_valid_after_utc
            await _chain(report, cert, certs[1:], sig, opts)
            from sceau.formats.archive import check_xml_archive  # B-LTA

            report.archive_timestamps = check_xml_archive(sig, tree, opts.detached)
            report.level = "B-LTA" if report.archive_timestamps else report.level
        except (_Unsupported, ValueError) as exc:
            report.integrity = False
            report.problems.append("Unsupported or damaged signature.")
            report.trust_reason = report.trust_reason or str(exc)
    return kind, reports


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
