"""The level of a signature from the trusted lists: a pure function of chain, time and lists.

Like EU DSS: find the CA/QC service of a list that issued a certificate of the chain, take its
status *at the signing time* (current information or ServiceHistory), apply the qualifications
whose criteria match the signer's certificate (QCStatement, NotQualified, QCWithQSCD, QCNoQSCD,
QCForESig, QCForESeal…) over what the certificate says (QcCompliance, QcSSCD, QcType), and name
the level: qualified signature / seal, advanced with a qualified certificate, or advanced.
Nothing here does I/O, so it runs wherever verification runs (agent, CLI, a worker process).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from sceau.trust import tsl
from sceau.trust.qc import CertFacts, facts

QUALIFIER = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/"
EIDAS_START = datetime(2016, 7, 1, tzinfo=UTC)  # statuses of Directive 1999/93/EC before this date
QUALIFIED_CA_TYPES = {tsl.CA_QC, "http://uri.etsi.org/TrstSvc/Svctype/NationalRootCA-QC"}


class Level(StrEnum):
    QES = "QES"  # qualified electronic signature
    QESEAL = "QESeal"  # qualified electronic seal
    ADES_QC = "AdESig-QC"  # advanced signature supported by a qualified certificate
    ADESEAL_QC = "AdESeal-QC"
    ADES = "AdES"  # advanced: the lists do not make the certificate qualified
    NOT_LISTED = "not-listed"  # no trusted list covers the issuer


LEVEL_TEXT = {
    Level.QES: "Qualified electronic signature",
    Level.QESEAL: "Qualified electronic seal",
    Level.ADES_QC: "Advanced electronic signature supported by a qualified certificate",
    Level.ADESEAL_QC: "Advanced electronic seal supported by a qualified certificate",
    Level.ADES: "Advanced electronic signature (not qualified)",
    Level.NOT_LISTED: "The issuer of the certificate is in no trusted list",
}


@dataclass(frozen=True)
class CachedList:
    """A validated list from the cache, with when it was fetched."""

    list: tsl.TrustedList
    url: str
    fetched: datetime
    raw: bytes = field(default=b"", repr=False)  # the validated bytes: pickling re-parses them

    def __reduce__(self) -> tuple[Any, ...]:
        # Certificates do not pickle; a verification worker process gets the bytes and parses them.
        return (_rebuild, (self.raw, self.url, self.fetched))


def _rebuild(raw: bytes, url: str, fetched: datetime) -> CachedList:
    return CachedList(_parsed(raw), url, fetched, raw)


@functools.lru_cache(maxsize=64)
def _parsed(raw: bytes) -> tsl.TrustedList:
    # A worker verifies many files with the same lists: each list is parsed once per process, not per file.
    return tsl.parse(raw)


@dataclass(frozen=True)
class TrustLists:
    lists: tuple[CachedList, ...] = ()
    lotl_fetched: datetime | None = None
    rgs_policies: Mapping[str, str] = field(default_factory=dict)  # policy OID → "*", "**", "***"

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_by_subject"}  # the index is rebuilt on use

    @cached_property
    def _by_subject(self) -> dict[bytes, list[x509.Certificate]]:
        index: dict[bytes, list[x509.Certificate]] = {}
        for cl in self.lists:
            for s in cl.list.services:
                if s.type.startswith(_CA) or s.type in QUALIFIED_CA_TYPES:
                    for c in s.certificates:
                        index.setdefault(c.subject.public_bytes(), []).append(c)
        return index

    def anchors_for(self, names: Iterable[bytes]) -> list[x509.Certificate]:
        """Certificates of the CA services (any status) named by `names` (DER Names: the issuers and
        subjects of a signature's certificates): the trust anchors that can close its path. Only
        those, because a validation context registers every root it is given."""
        out: list[x509.Certificate] = []
        for name in set(names):
            out += self._by_subject.get(name, [])
        return out


_CA = "http://uri.etsi.org/TrstSvc/Svctype/CA/"


@dataclass
class TrustDecision:
    level: Level
    territory: str = ""
    list_url: str = ""
    list_fetched: datetime | None = None
    list_expired: bool = False
    provider: str = ""
    service: str = ""
    status: str = ""  # granted / withdrawn / … at the signing time
    status_since: datetime | None = None
    qc_type: str = ""
    qscd: bool = False
    rgs: str = ""
    reasons: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (English msgid, parameters)

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            "levelText": LEVEL_TEXT[self.level],
            "trustedList": {
                "territory": self.territory,
                "url": self.list_url,
                "fetched": self.list_fetched.isoformat() if self.list_fetched else None,
                "expired": self.list_expired,
            }
            if self.list_url
            else None,
            "provider": self.provider,
            "service": self.service,
            "status": self.status.rsplit("/", 1)[-1],
            "statusSince": self.status_since.isoformat() if self.status_since else None,
            "qcType": self.qc_type,
            "qscd": self.qscd,
            "rgsLevel": self.rgs,
            "reasons": [msg.format(**params) for msg, params in self.reasons],
        }


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):  # wrong key or algorithm: not its issuer
        return False


def _find_service(
    chain: Sequence[x509.Certificate], lists: TrustLists
) -> tuple[CachedList, tsl.Service, x509.Certificate] | None:
    """The CA service whose certificate issued (or is) a certificate of the chain, nearest the signer."""
    for depth, cert in enumerate(chain):
        for cl in lists.lists:
            for svc in cl.list.services:
                if not svc.type.startswith(_CA) and svc.type not in QUALIFIED_CA_TYPES:
                    continue
                for sc in svc.certificates:
                    if (depth > 0 and _der(sc) == _der(cert)) or _issued_by(cert, sc):
                        return cl, svc, chain[0]
    return None


def _state_at(svc: tsl.Service, when: datetime) -> tsl.ServiceState | None:
    for state in svc.history:  # newest first
        if state.start <= when:
            return state
    return None


def _criteria_match(c: tsl.Criteria, f: CertFacts) -> bool:
    results = [all(bit in f.key_usage if value else bit not in f.key_usage for bit, value in ku) for ku in c.key_usage]
    results += [all(p in f.policies for p in ps) for ps in c.policies]
    results += [_criteria_match(n, f) for n in c.nested]
    if c.assert_ == "atLeastOne":
        return any(results)
    if c.assert_ == "none":
        return not any(results)
    return all(results)


def _granted(state: tsl.ServiceState) -> bool:
    return state.status == tsl.GRANTED or (state.status in tsl.LEGACY_QUALIFIED and state.start < EIDAS_START)


def rgs_level(cert: x509.Certificate, table: Mapping[str, str]) -> str:
    for pol in facts(cert).policies:
        for prefix, level in table.items():
            if pol == prefix or pol.startswith(prefix + "."):
                return level
    return ""


def evaluate(chain: Sequence[x509.Certificate], when: datetime | None, lists: TrustLists) -> TrustDecision:
    """The level of a signature by `chain[0]` (signer first, then the certificates that help) at `when`."""
    signer = chain[0]
    at = when or datetime.now(UTC)
    rgs = rgs_level(signer, lists.rgs_policies)
    found = _find_service(chain, lists)
    if found is None:
        return TrustDecision(Level.NOT_LISTED, rgs=rgs)  # the level text says why
    cl, svc, _ = found
    d = TrustDecision(
        Level.ADES,
        territory=cl.list.territory,
        list_url=cl.url,
        list_fetched=cl.fetched,
        list_expired=bool(cl.list.next_update and cl.list.next_update < datetime.now(UTC)),
        provider=svc.provider,
        service=svc.name,
        rgs=rgs,
    )
    state = _state_at(svc, at)
    if state is None:
        d.reasons.append(("The service was not yet listed at the signing time.", {}))
        return d
    d.status, d.status_since = state.status, state.start
    if not _granted(state):
        d.reasons.append(
            (
                "The service's status at the signing time was {status} (since {date}): not qualified.",
                {"status": state.status.rsplit("/", 1)[-1], "date": state.start.strftime("%Y-%m-%d")},
            )
        )
        return d
    if svc.type not in QUALIFIED_CA_TYPES:
        d.reasons.append(("The service does not issue qualified certificates.", {}))
        return d
    f = facts(signer)
    qualified, qscd = f.qc_compliance, f.qscd
    types = set(f.qc_types)
    for q in state.qualifications:
        if not _criteria_match(q.criteria, f):
            continue
        for uri in q.qualifiers:
            name = uri.removeprefix(QUALIFIER)
            if name == "QCStatement":
                qualified = True
            elif name == "NotQualified":
                qualified = False
            elif name in ("QCWithQSCD", "QCQSCDManagedOnBehalf", "QCWithSSCD"):  # SSCD: Directive names
                qscd = True
            elif name in ("QCNoQSCD", "QCNoSSCD"):
                qscd = False
            elif name == "QCForESig":
                types = {"esign"}
            elif name == "QCForESeal":
                types = {"eseal"}
            elif name == "QCForWSA":
                types = {"web"}
    if not qualified:
        d.reasons.append(("The certificate is not qualified (no QcCompliance statement).", {}))
        return d
    kind = "eseal" if types == {"eseal"} else "web" if types == {"web"} else "esign"
    d.qc_type, d.qscd = kind, qscd
    wanted = {"esign": tsl.FOR_ESIG, "eseal": tsl.FOR_ESEAL, "web": tsl.FOR_WSA}[kind]
    if state.additional and wanted not in state.additional:
        d.reasons.append(("The service is not qualified for this kind of certificate ({kind}).", {"kind": kind}))
        return d
    if kind == "web":
        d.reasons.append(("The certificate is a website certificate, not a signature or seal certificate.", {}))
        return d
    if kind == "eseal":
        d.level = Level.QESEAL if qscd else Level.ADESEAL_QC
    else:
        d.level = Level.QES if qscd else Level.ADES_QC
    if not qscd:
        d.reasons.append(("The private key is not in a qualified signature creation device (QSCD).", {}))
    return d
