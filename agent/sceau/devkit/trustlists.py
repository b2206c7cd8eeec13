"""Throw-away EU trusted lists for tests, the demo and benchmarks: a LOTL and national lists in the
ETSI TS 119 612 v2 schema, XAdES-signed by generated pivot / operator keys, served over local HTTP.

Also a small qualified-certificate PKI: CAs listed as CA/QC services and signers whose certificates
carry the EN 319 412-5 QC statements (QcCompliance, QcSSCD, QcType) and certificate policies.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from lxml import etree

from sceau.formats import xmldsig
from sceau.tokens import softkeys
from sceau.tokens.base import Digest, SignScheme
from sceau.trust import qc
from sceau.trust import tsl as T

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PASSWORD = "motdepasse"
TEST_POLICY = "1.2.250.1.999.17"  # a test arc; tests map it to an RGS level through the configuration


def _name(cn: str, org: str = "Sceau Tests", country: str = "FR") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def self_signed(cn: str, *, ca: bool = True, country: str = "FR") -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(65537, 2048)
    now = datetime.now(UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, country=country))
        .issuer_name(_name(cn, country=country))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(not ca, False, False, False, False, ca, ca, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return b.sign(key, hashes.SHA256()), key


def qc_statements(*, compliance: bool, sscd: bool, qc_type: str | None) -> x509.UnrecognizedExtension:
    items = []
    if compliance:
        items.append(qc.Statement({"id": qc.QC_COMPLIANCE}))
    if sscd:
        items.append(qc.Statement({"id": qc.QC_SSCD}))
    if qc_type:
        oid = {v: k for k, v in qc.QCT.items()}[qc_type]
        items.append(qc.Statement({"id": qc.QC_TYPE, "info": core.Any.load(qc.Oids([oid]).dump())}))
    return x509.UnrecognizedExtension(qc.QC_STATEMENTS, qc.Statements(items).dump())


def issue_signer(
    cn: str,
    ca: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    *,
    compliance: bool = True,
    sscd: bool = True,
    qc_type: str | None = "esign",
    policies: Sequence[str] = (TEST_POLICY,),
    not_before: datetime | None = None,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(65537, 2048)
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, org="Bâtiments Durand SARL"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1095))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, True, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if policies:
        b = b.add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in policies]),
            critical=False,
        )
    if compliance or sscd or qc_type:
        b = b.add_extension(qc_statements(compliance=compliance, sscd=sscd, qc_type=qc_type), critical=False)
    return b.sign(ca_key, hashes.SHA256()), key


def write_p12(path: Path, cert: x509.Certificate, key: PrivateKey, chain: Iterable[x509.Certificate] = ()) -> Path:
    enc = serialization.BestAvailableEncryption(PASSWORD.encode())
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"signer", key, cert, list(chain), enc))
    return path


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


# -- the lists -------------------------------------------------------------------------------------
@dataclass
class State:
    status: str
    start: datetime
    qualifiers: Sequence[str] = ()  # short names: QCWithQSCD, QCForESig…
    additional: Sequence[str] = (T.FOR_ESIG, T.FOR_ESEAL)


@dataclass
class ServiceSpec:
    name: str
    cert: x509.Certificate
    history: Sequence[State]  # newest first
    type: str = T.CA_QC


@dataclass
class PointerSpec:
    location: str
    territory: str
    certs: Sequence[x509.Certificate]
    tsl_type: str = T.TYPE_GENERIC


@dataclass
class ListSpec:
    territory: str
    operator: str
    tsl_type: str = T.TYPE_GENERIC
    sequence: int = 1
    issued: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=1))
    next_update: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(days=180))
    pointers: Sequence[PointerSpec] = ()
    scheme_uris: Sequence[str] = ()  # SchemeInformationURI (the LOTL's pivots)
    provider: str = "Prestataire de test"
    services: Sequence[ServiceSpec] = ()


def _sub(parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    return xmldsig.sub(parent, ns, tag, text, **attrs)


def _b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _names(parent: etree._Element, tag: str, text: str) -> None:
    el = _sub(parent, T.TSL, tag)
    for lang in ("en", "fr"):
        _sub(el, T.TSL, "Name", text, **{XML_LANG: lang})


def _uris(parent: etree._Element, tag: str, uris: Sequence[str]) -> None:
    el = _sub(parent, T.TSL, tag)
    for uri in uris:
        _sub(el, T.TSL, "URI", uri, **{XML_LANG: "en"})


def _address(parent: etree._Element, tag: str, name: str) -> None:
    """PostalAddresses and ElectronicAddress (TS 119 612 §5.3.5): fixed test values."""
    addr = _sub(parent, T.TSL, tag)
    postal = _sub(_sub(addr, T.TSL, "PostalAddresses"), T.TSL, "PostalAddress", **{XML_LANG: "fr"})
    _sub(postal, T.TSL, "StreetAddress", "1 rue de l'Essai")
    _sub(postal, T.TSL, "Locality", "Paris")
    _sub(postal, T.TSL, "PostalCode", "75001")
    _sub(postal, T.TSL, "CountryName", "FR")
    _uris(addr, "ElectronicAddress", [f"mailto:contact@{abs(hash(name)) % 10000}.test.invalid"])


def _identities(parent: etree._Element, tag: str, certs: Sequence[x509.Certificate]) -> None:
    for cert in certs:
        sdi = _sub(parent, T.TSL, tag)
        _sub(_sub(sdi, T.TSL, "DigitalId"), T.TSL, "X509Certificate", _b64(cert))


def _state(parent: etree._Element, state: State) -> None:
    _sub(parent, T.TSL, "ServiceStatus", state.status)
    _sub(parent, T.TSL, "StatusStartingTime", xmldsig.xml_time(state.start))
    if not state.qualifiers and not state.additional:
        return
    exts = _sub(parent, T.TSL, "ServiceInformationExtensions")
    if state.qualifiers:
        ext = _sub(exts, T.TSL, "Extension", Critical="true")
        qe = _sub(_sub(ext, T.ECC, "Qualifications"), T.ECC, "QualificationElement")
        qs = _sub(qe, T.ECC, "Qualifiers")
        for q in state.qualifiers:
            _sub(qs, T.ECC, "Qualifier", uri=f"http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/{q}")
        crit = _sub(qe, T.ECC, "CriteriaList", **{"assert": "atLeastOne"})
        ps = _sub(crit, T.ECC, "PolicySet")
        _sub(_sub(ps, T.ECC, "PolicyIdentifier"), T.XADES, "Identifier", TEST_POLICY)
    for uri in state.additional:
        ext = _sub(exts, T.TSL, "Extension", Critical="false")
        _sub(_sub(ext, T.TSL, "AdditionalServiceInformation"), T.TSL, "URI", uri, **{XML_LANG: "en"})


def build(spec: ListSpec) -> etree._Element:
    nsmap = {None: T.TSL, "tslx": T.TSLX, "ecc": T.ECC, "xades": T.XADES, "ds": xmldsig.DS}
    root = etree.Element(f"{{{T.TSL}}}TrustServiceStatusList", nsmap=cast(Any, nsmap), Id="tsl", TSLTag=T.TSL_TAG)
    si = _sub(root, T.TSL, "SchemeInformation")
    _sub(si, T.TSL, "TSLVersionIdentifier", "5")
    _sub(si, T.TSL, "TSLSequenceNumber", str(spec.sequence))
    _sub(si, T.TSL, "TSLType", spec.tsl_type)
    _names(si, "SchemeOperatorName", spec.operator)
    _address(si, "SchemeOperatorAddress", spec.operator)
    _names(si, "SchemeName", f"{spec.territory}: liste de confiance de test")
    _uris(si, "SchemeInformationURI", [f"https://{spec.territory.lower()}.test.invalid/tl", *spec.scheme_uris])
    _sub(si, T.TSL, "StatusDeterminationApproach", "http://uri.etsi.org/TrstSvc/TrustedList/StatusDetn/EUappropriate")
    _uris(si, "SchemeTypeCommunityRules", ["http://uri.etsi.org/TrstSvc/TrustedList/schemerules/EUcommon"])
    _sub(si, T.TSL, "SchemeTerritory", spec.territory)
    notice = _sub(si, T.TSL, "PolicyOrLegalNotice")
    _sub(notice, T.TSL, "TSLLegalNotice", "Liste de test générée par Sceau.", **{XML_LANG: "fr"})
    _sub(si, T.TSL, "HistoricalInformationPeriod", "65535")
    if spec.pointers:
        pts = _sub(si, T.TSL, "PointersToOtherTSL")
        for p in spec.pointers:
            ptr = _sub(pts, T.TSL, "OtherTSLPointer")
            _identities(_sub(ptr, T.TSL, "ServiceDigitalIdentities"), "ServiceDigitalIdentity", p.certs)
            _sub(ptr, T.TSL, "TSLLocation", p.location)
            info = _sub(ptr, T.TSL, "AdditionalInformation")
            _sub(_sub(info, T.TSL, "OtherInformation"), T.TSL, "TSLType", p.tsl_type)
            _sub(_sub(info, T.TSL, "OtherInformation"), T.TSL, "SchemeTerritory", p.territory)
            _sub(_sub(info, T.TSL, "OtherInformation"), T.TSLX, "MimeType", T.MIME_XML)
    _sub(si, T.TSL, "ListIssueDateTime", xmldsig.xml_time(spec.issued))
    _sub(_sub(si, T.TSL, "NextUpdate"), T.TSL, "dateTime", xmldsig.xml_time(spec.next_update))
    if spec.services:
        tsp = _sub(_sub(root, T.TSL, "TrustServiceProviderList"), T.TSL, "TrustServiceProvider")
        info = _sub(tsp, T.TSL, "TSPInformation")
        _names(info, "TSPName", spec.provider)
        _address(info, "TSPAddress", spec.provider)
        _uris(info, "TSPInformationURI", ["https://tsp.test.invalid/"])
        services = _sub(tsp, T.TSL, "TSPServices")
        for s in spec.services:
            svc = _sub(services, T.TSL, "TSPService")
            info = _sub(svc, T.TSL, "ServiceInformation")
            _sub(info, T.TSL, "ServiceTypeIdentifier", s.type)
            _names(info, "ServiceName", s.name)
            _identities(info, "ServiceDigitalIdentity", [s.cert])
            _state(info, s.history[0])
            if len(s.history) > 1:
                hist = _sub(svc, T.TSL, "ServiceHistory")
                for st in s.history[1:]:
                    inst = _sub(hist, T.TSL, "ServiceHistoryInstance")
                    _sub(inst, T.TSL, "ServiceTypeIdentifier", s.type)
                    _names(inst, "ServiceName", s.name)
                    _identities(inst, "ServiceDigitalIdentity", [s.cert])
                    _state(inst, st)
    return root


def sign(root: etree._Element, cert: x509.Certificate, key: PrivateKey, *, sha1_cert_digest: bool = False) -> bytes:
    """Enveloped XAdES-B signature over the whole list (URI="", enveloped + exclusive C14N).
    `sha1_cert_digest`: name the signer by its SHA-1 in SigningCertificate, as the French list does."""
    digest = Digest.SHA256
    data_digest = digest.digest(xmldsig.c14n(root))
    ref = xmldsig.Reference(
        uri="", digest_value=data_digest, transforms=[xmldsig.ENVELOPED, xmldsig.EXC_C14N], ref_id="ref-tsl"
    )
    scheme = SignScheme.RSA_PKCS1V15 if isinstance(key, rsa.RSAPrivateKey) else SignScheme.ECDSA
    sig = xmldsig.build_signature(
        references=[ref],
        signature_method=xmldsig.signature_method_uri(scheme, digest),
        digest=digest,
        certificates=[cert],
        options=xmldsig.XadesOptions(signing_time=datetime.now(UTC)),
        sig_id="sig-tsl",
    )
    root.append(sig)
    # The XAdES 1.3.2 schema that TS 119 612 lists use knows SigningCertificate (issuer name and
    # serial), not SigningCertificateV2.
    v2 = sig.find(f".//{{{xmldsig.XADES132}}}SigningCertificateV2")
    if v2 is not None:
        v2.tag = f"{{{xmldsig.XADES132}}}SigningCertificate"
        old = v2.find(f".//{{{xmldsig.XADES132}}}IssuerSerialV2")
        assert old is not None
        parent = old.getparent()
        assert parent is not None
        parent.remove(old)
        iss = xmldsig.sub(parent, xmldsig.XADES132, "IssuerSerial")
        xmldsig.sub(iss, xmldsig.DS, "X509IssuerName", cert.issuer.rfc4514_string())
        xmldsig.sub(iss, xmldsig.DS, "X509SerialNumber", str(cert.serial_number))
    if sha1_cert_digest:
        cd = sig.find(f".//{{{xmldsig.XADES132}}}CertDigest")
        assert cd is not None
        cd[0].set("Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")
        der = cert.public_bytes(serialization.Encoding.DER)
        cd[1].text = base64.b64encode(hashlib.sha1(der, usedforsecurity=False).digest()).decode()
    xmldsig.fill_signed_properties_digest(sig, digest)
    xmldsig.set_signature_value(sig, softkeys.sign(key, xmldsig.signed_info_c14n(sig), scheme, digest, False))
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out


# -- serving ---------------------------------------------------------------------------------------
class ListServer:
    """Serves `files` (path → bytes) on 127.0.0.1; tests swap the bytes between refreshes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", T.MIME_XML)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                # The client may stop reading (size cap): that is what the tests check.
                with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                    self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> ListServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


# -- the demo's lists ------------------------------------------------------------------------------
def demo_cache(data_dir: Path, ca: x509.Certificate, *, service: str = "AC de démonstration Sceau") -> Path:
    """A validated trusted-list cache in `data_dir` whose French list names `ca` as a granted CA/QC
    service: generated LOTL and FR list, served on 127.0.0.1, fetched and checked by the real
    refresh (in its own thread and loop, so it works from inside an event loop too)."""
    import asyncio

    from sceau.trust.refresh import refresh

    now = datetime.now(UTC)
    pivot, pivot_key = self_signed("Pivot LOTL (démo)", ca=False)
    operator, operator_key = self_signed("Opérateur de la liste FR (démo)", ca=False)
    with ListServer() as server:
        lotl = ListSpec(
            "EU",
            "Commission européenne (démo)",
            tsl_type=T.TYPE_LOTL,
            pointers=[PointerSpec(server.url("/fr.xml"), "FR", [operator])],
        )
        fr = ListSpec(
            "FR",
            "ANSSI (démo)",
            provider="Sceau démonstration",
            services=[ServiceSpec(service, ca, [State(T.GRANTED, now - timedelta(days=365))])],
        )
        server.files["/lotl.xml"] = sign(build(lotl), pivot, pivot_key)
        server.files["/fr.xml"] = sign(build(fr), operator, operator_key)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(refresh(data_dir, url=server.url("/lotl.xml"), signers=[pivot], territories=["FR"]))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run, name="sceau-demo-lists")
        thread.start()
        thread.join(60)
    if errors:
        raise errors[0]
    return data_dir
