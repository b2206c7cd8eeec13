"""What a certificate says about itself: QC statements (ETSI EN 319 412-5), policies, key usage."""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import core
from cryptography import x509

QC_STATEMENTS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")
QC_COMPLIANCE = "0.4.0.1862.1.1"  # id-etsi-qcs-QcCompliance
QC_SSCD = "0.4.0.1862.1.4"  # id-etsi-qcs-QcSSCD
QC_TYPE = "0.4.0.1862.1.6"  # id-etsi-qcs-QcType
QCT = {"0.4.0.1862.1.6.1": "esign", "0.4.0.1862.1.6.2": "eseal", "0.4.0.1862.1.6.3": "web"}


class Statement(core.Sequence):  # type: ignore[misc]
    _fields = [("id", core.ObjectIdentifier), ("info", core.Any, {"optional": True})]


class Statements(core.SequenceOf):  # type: ignore[misc]
    _child_spec = Statement


class Oids(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.ObjectIdentifier


@dataclass(frozen=True)
class CertFacts:
    qc_compliance: bool = False
    qscd: bool = False
    qc_types: tuple[str, ...] = ()  # esign / eseal / web; empty: none stated (esign by EN 319 412-5)
    policies: tuple[str, ...] = ()
    key_usage: tuple[str, ...] = ()  # TS 119 612 bit names: digitalSignature, nonRepudiation…


_KU_NAMES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "crlSign"),
)


def facts(cert: x509.Certificate) -> CertFacts:
    """Read the QC statements, certificate policies and key usage (damaged extensions read as absent)."""
    compliance = sscd = False
    types: list[str] = []
    try:
        raw = cert.extensions.get_extension_for_oid(QC_STATEMENTS).value
        der = raw.value if isinstance(raw, x509.UnrecognizedExtension) else raw.public_bytes()
        for st in Statements.load(der):
            oid = st["id"].dotted
            if oid == QC_COMPLIANCE:
                compliance = True
            elif oid == QC_SSCD:
                sscd = True
            elif oid == QC_TYPE and st["info"].contents is not None:
                types += [QCT.get(o.dotted, o.dotted) for o in Oids.load(st["info"].dump())]
    except (x509.ExtensionNotFound, ValueError, TypeError, AttributeError):
        pass
    try:
        pols = tuple(
            p.policy_identifier.dotted_string
            for p in cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
        )
    except (x509.ExtensionNotFound, ValueError):
        pols = ()
    usage: list[str] = []
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        usage = [name for attr, name in _KU_NAMES if getattr(ku, attr)]
    except (x509.ExtensionNotFound, ValueError):
        pass
    return CertFacts(compliance, sscd, tuple(types), pols, tuple(usage))
