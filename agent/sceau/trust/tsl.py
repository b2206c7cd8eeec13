"""ETSI TS 119 612 (v2.x) trusted lists: the parts a signature validator needs, as plain data.

Parsed with the hardened parser (`formats.xmlsafe`: no DTD, no entities, bounded size and depth).
We keep the scheme information (territory, sequence number, issue date, NextUpdate), the pointers
to other lists (the LOTL's entries: location, territory, MIME type, announced certificates) and
every trust service with its type, status history, qualifications and additional information.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from lxml import etree

from sceau.errors import InvalidInput
from sceau.formats import xmlsafe
from sceau.i18n import _

TSL = "http://uri.etsi.org/02231/v2#"
TSLX = "http://uri.etsi.org/02231/v2/additionaltypes#"
ECC = "http://uri.etsi.org/TrstSvc/SvcInfoExt/eSigDir-1999-93-EC-TrustedList/#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"

TSL_TAG = "http://uri.etsi.org/19612/TSLTag"
TYPE_LOTL = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUlistofthelists"
TYPE_GENERIC = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric"
MIME_XML = "application/vnd.etsi.tsl+xml"

SVC = "http://uri.etsi.org/TrstSvc/Svctype/"
CA_QC = SVC + "CA/QC"
STATUS = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/"
GRANTED = STATUS + "granted"
WITHDRAWN = STATUS + "withdrawn"
# Directive 1999/93/EC statuses (before 1 July 2016): a qualified CA then was one of these.
LEGACY_QUALIFIED = {
    "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/undersupervision",
    "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/supervisionincessation",
    "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/accredited",
}
SIE = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/"
FOR_ESIG, FOR_ESEAL, FOR_WSA = SIE + "ForeSignatures", SIE + "ForeSeals", SIE + "ForWebSiteAuthentication"

MAX_TSL = 64 * 1024 * 1024  # the largest national lists are a few MB
MAX_SERVICES = 20000


@dataclass(frozen=True)
class Criteria:
    """A CriteriaList: which certificates a qualification applies to."""

    assert_: str  # all / atLeastOne / none
    key_usage: tuple[tuple[tuple[str, bool], ...], ...] = ()  # each KeyUsage: (bit name, value) pairs
    policies: tuple[tuple[str, ...], ...] = ()  # each PolicySet: policy OIDs
    nested: tuple[Criteria, ...] = ()


@dataclass(frozen=True)
class Qualification:
    qualifiers: tuple[str, ...]  # URIs, e.g. …/SvcInfoExt/QCWithQSCD
    criteria: Criteria


@dataclass(frozen=True)
class ServiceState:
    """One period of a service: the current information or a ServiceHistoryInstance."""

    status: str
    start: datetime
    qualifications: tuple[Qualification, ...] = ()
    additional: tuple[str, ...] = ()  # AdditionalServiceInformation URIs (ForeSignatures…)


@dataclass(frozen=True)
class Service:
    provider: str
    name: str
    type: str
    certificates: tuple[x509.Certificate, ...]
    history: tuple[ServiceState, ...]  # newest first (current, then the history instances)


@dataclass(frozen=True)
class Pointer:
    """A PointersToOtherTSL entry."""

    location: str
    territory: str
    tsl_type: str
    mime_type: str
    certificates: tuple[x509.Certificate, ...]


@dataclass
class TrustedList:
    territory: str
    sequence: int
    tsl_type: str
    operator: str
    issued: datetime | None
    next_update: datetime | None
    pointers: list[Pointer] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    scheme_uris: list[str] = field(default_factory=list)  # SchemeInformationURI: the LOTL lists its pivots there

    def pivots(self) -> list[str]:
        """The pivot LOTLs the LOTL names (most recent first, as published)."""
        return [u for u in self.scheme_uris if u.lower().endswith(".xml") and "pivot" in u.lower()]


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _text(el: etree._Element | None, path: str) -> str:
    if el is None:
        return ""
    return (el.findtext(path) or "").strip()


def _time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(_("Unreadable date in the trusted list: {value}").format(value=text[:40])) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _name(el: etree._Element | None, path: str) -> str:
    """A multilingual name: English first, else the first one."""
    if el is None:
        return ""
    names = el.findall(path)
    for n in names:
        if n.get("{http://www.w3.org/XML/1998/namespace}lang", "") == "en":
            return (n.text or "").strip()
    return (names[0].text or "").strip() if names else ""


def _certificates(parent: etree._Element | None) -> tuple[x509.Certificate, ...]:
    out: list[x509.Certificate] = []
    if parent is None:
        return ()
    for el in parent.iter(_q(TSL, "X509Certificate")):
        try:
            out.append(x509.load_der_x509_certificate(base64.b64decode("".join((el.text or "").split()))))
        except (ValueError, binascii.Error):
            raise InvalidInput(_("A certificate in the trusted list is damaged.")) from None
    return tuple(out)


def _criteria(el: etree._Element, depth: int = 0) -> Criteria:
    if depth > 8:
        raise InvalidInput(_("The trusted list nests criteria too deeply."))
    key_usage = tuple(
        tuple(
            (b.get("name", ""), (b.text or "").strip().lower() == "true") for b in ku.iterfind(_q(ECC, "KeyUsageBit"))
        )
        for ku in el.iterfind(_q(ECC, "KeyUsage"))
    )
    policies = tuple(
        tuple(_oid(i.text or "") for i in ps.iterfind(f"{_q(ECC, 'PolicyIdentifier')}/{_q(XADES, 'Identifier')}"))
        for ps in el.iterfind(_q(ECC, "PolicySet"))
    )
    nested = tuple(_criteria(c, depth + 1) for c in el.iterfind(_q(ECC, "CriteriaList")))
    return Criteria(el.get("assert", "all"), key_usage, policies, nested)


def _oid(text: str) -> str:
    text = text.strip()
    return text[len("urn:oid:") :] if text.lower().startswith("urn:oid:") else text


def _state(el: etree._Element) -> ServiceState:
    start = _time(_text(el, _q(TSL, "StatusStartingTime")))
    if start is None:
        raise InvalidInput(_("A service of the trusted list has no status starting time."))
    quals: list[Qualification] = []
    additional: list[str] = []
    for ext in el.iterfind(f"{_q(TSL, 'ServiceInformationExtensions')}/{_q(TSL, 'Extension')}"):
        for qe in ext.iterfind(f"{_q(ECC, 'Qualifications')}/{_q(ECC, 'QualificationElement')}"):
            qualifiers = tuple(q.get("uri", "") for q in qe.iterfind(f"{_q(ECC, 'Qualifiers')}/{_q(ECC, 'Qualifier')}"))
            crit = qe.find(_q(ECC, "CriteriaList"))
            quals.append(Qualification(qualifiers, _criteria(crit) if crit is not None else Criteria("all")))
        for uri in ext.iterfind(f"{_q(TSL, 'AdditionalServiceInformation')}/{_q(TSL, 'URI')}"):
            additional.append((uri.text or "").strip())
    return ServiceState(_text(el, _q(TSL, "ServiceStatus")), start, tuple(quals), tuple(additional))


def parse(data: bytes) -> TrustedList:
    """Parse a trusted list (LOTL or national); refuses anything that is not one."""
    tree = xmlsafe.parse_xml(data, max_size=MAX_TSL)
    root = tree.getroot()
    if root.tag != _q(TSL, "TrustServiceStatusList"):
        raise InvalidInput(_("This is not an ETSI trusted list (TrustServiceStatusList)."))
    si = root.find(_q(TSL, "SchemeInformation"))
    if si is None:
        raise InvalidInput(_("The trusted list has no scheme information."))
    try:
        sequence = int(_text(si, _q(TSL, "TSLSequenceNumber")) or "0")
    except ValueError:
        raise InvalidInput(_("The trusted list's sequence number is not a number.")) from None
    tl = TrustedList(
        territory=_text(si, _q(TSL, "SchemeTerritory")),
        sequence=sequence,
        tsl_type=_text(si, _q(TSL, "TSLType")),
        operator=_name(si, f"{_q(TSL, 'SchemeOperatorName')}/{_q(TSL, 'Name')}"),
        issued=_time(_text(si, _q(TSL, "ListIssueDateTime"))),
        next_update=_time(_text(si, f"{_q(TSL, 'NextUpdate')}/{_q(TSL, 'dateTime')}")),
    )
    tl.scheme_uris = [
        (u.text or "").strip() for u in si.iterfind(f"{_q(TSL, 'SchemeInformationURI')}/{_q(TSL, 'URI')}")
    ]
    for ptr in si.iterfind(f"{_q(TSL, 'PointersToOtherTSL')}/{_q(TSL, 'OtherTSLPointer')}"):
        info = ptr.find(f"{_q(TSL, 'AdditionalInformation')}")
        tl.pointers.append(
            Pointer(
                location=_text(ptr, _q(TSL, "TSLLocation")),
                territory=_text(info, f".//{_q(TSL, 'SchemeTerritory')}"),
                tsl_type=_text(info, f".//{_q(TSL, 'TSLType')}"),
                mime_type=_text(info, f".//{_q(TSLX, 'MimeType')}"),
                certificates=_certificates(ptr.find(_q(TSL, "ServiceDigitalIdentities"))),
            )
        )
    for tsp in root.iterfind(f"{_q(TSL, 'TrustServiceProviderList')}/{_q(TSL, 'TrustServiceProvider')}"):
        provider = _name(tsp, f"{_q(TSL, 'TSPInformation')}/{_q(TSL, 'TSPName')}/{_q(TSL, 'Name')}")
        for svc in tsp.iterfind(f"{_q(TSL, 'TSPServices')}/{_q(TSL, 'TSPService')}"):
            if len(tl.services) >= MAX_SERVICES:
                raise InvalidInput(_("The trusted list has too many services."))
            info = svc.find(_q(TSL, "ServiceInformation"))
            if info is None:
                continue
            states = [_state(info)]
            states += [
                _state(h) for h in svc.iterfind(f"{_q(TSL, 'ServiceHistory')}/{_q(TSL, 'ServiceHistoryInstance')}")
            ]
            tl.services.append(
                Service(
                    provider=provider,
                    name=_name(info, f"{_q(TSL, 'ServiceName')}/{_q(TSL, 'Name')}"),
                    type=_text(info, _q(TSL, "ServiceTypeIdentifier")),
                    certificates=_certificates(info.find(_q(TSL, "ServiceDigitalIdentity"))),
                    history=tuple(sorted(states, key=lambda s: s.start, reverse=True)),
                )
            )
    return tl
