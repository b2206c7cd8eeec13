"""Recipient side of CMS decryption: parse RecipientInfos, match them to token certificates, recover the key.

Private-key operations only go through the token interface: `Token.decrypt_raw` for ktri
(RSA v1.5 / OAEP) and `Token.derive_ecdh` for kari; the X9.63 KDF and the AES key unwrap run
here. Every cryptographic failure becomes the same `decryption_failed()` error (no oracle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap

from sceau.crypto import algorithms as alg
from sceau.crypto import kari
from sceau.errors import InvalidInput, TooLarge, Unsupported
from sceau.i18n import _
from sceau.tokens.base import CertificateEntry, PinPrompt, RsaDecryptPadding, Token

MAX_RECIPIENTS = 1000  # real bids have 2-5; a bigger list is hostile or broken


def decryption_failed() -> InvalidInput:
    """The single error for every padding, MAC, unwrap or key failure."""
    return InvalidInput(_("Decryption failed: the file is damaged or was not encrypted for this key."))


def parse_recipient_infos(raw: bytes) -> list[cms.RecipientInfo]:
    """Decode the RecipientInfos SET, with a count cap."""
    try:
        infos = cms.RecipientInfos.load(raw, strict=True)
        count = len(infos)
        if count > MAX_RECIPIENTS:
            raise TooLarge(
                _("The file lists {n} recipients; at most {max} are accepted.").format(n=count, max=MAX_RECIPIENTS)
            )
        out = list(infos)
        if any(ri.name is None for ri in out):  # forces the choice to parse now, inside the try
            raise ValueError
    except (ValueError, TypeError, KeyError):
        raise InvalidInput(_("The recipient list of the file is malformed.")) from None
    if not out:
        raise InvalidInput(_("The file has no recipient."))
    return out


@dataclass(frozen=True)
class _CertId:
    issuer: Any  # asn1crypto Name.hashable
    serial: int
    ski: bytes | None


def _cert_id(entry: CertificateEntry) -> _CertId:
    cert = asn1_x509.Certificate.load(entry.der)
    ski = cert.key_identifier
    return _CertId(cert.issuer.hashable, cert.serial_number, bytes(ski) if ski is not None else None)


def _rid_matches(rid: Any, cid: _CertId) -> bool:
    """rid: RecipientIdentifier or KeyAgreementRecipientIdentifier."""
    name = rid.name
    if name == "issuer_and_serial_number":
        ias = rid.chosen
        return bool(ias["serial_number"].native == cid.serial and ias["issuer"].hashable == cid.issuer)
    if name == "subject_key_identifier":
        return cid.ski is not None and bytes(rid.chosen.native) == cid.ski
    if name == "r_key_id":
        return cid.ski is not None and bytes(rid.chosen["subject_key_identifier"].native) == cid.ski
    return False


@dataclass(frozen=True)
class RecipientMatch:
    """One recipient entry of the file that a certificate on a token can open."""

    entry: CertificateEntry
    kind: str  # "ktri" / "kari"
    info: Any  # asn1crypto KeyTransRecipientInfo / KeyAgreeRecipientInfo
    encrypted_key: bytes
    index: int  # position in the file's recipient list


def match_recipients(infos: Sequence[cms.RecipientInfo], entries: Sequence[CertificateEntry]) -> list[RecipientMatch]:
    """Every (recipient, certificate) pair that fits, in the file's order."""
    ids = [(e, _cert_id(e)) for e in entries]
    out: list[RecipientMatch] = []
    for index, ri in enumerate(infos):
        try:
            if ri.name == "ktri":
                ktri = ri.chosen
                for entry, cid in ids:
                    if entry.key_type == "rsa" and _rid_matches(ktri["rid"], cid):
                        out.append(RecipientMatch(entry, "ktri", ktri, bytes(ktri["encrypted_key"].native), index))
            elif ri.name == "kari":
                kri = ri.chosen
                for rek in kri["recipient_encrypted_keys"]:
                    for entry, cid in ids:
                        if entry.key_type == "ec" and _rid_matches(rek["rid"], cid):
                            out.append(RecipientMatch(entry, "kari", kri, bytes(rek["encrypted_key"].native), index))
        except (ValueError, TypeError, KeyError):
            continue  # a malformed entry for someone else must not stop us
    return out


def describe_recipients(infos: Sequence[cms.RecipientInfo], limit: int = 20) -> list[dict[str, str]]:
    """Short JSON-able description of the recipients (for NOT_A_RECIPIENT messages and reports)."""
    out: list[dict[str, str]] = []
    for ri in infos[:limit]:
        try:
            rids = (
                [ri.chosen["rid"]]
                if ri.name == "ktri"
                else ([r["rid"] for r in ri.chosen["recipient_encrypted_keys"]] if ri.name == "kari" else [])
            )
            for rid in rids:
                if rid.name == "issuer_and_serial_number":
                    issuer = rid.chosen["issuer"].native.get("common_name", rid.chosen["issuer"].human_friendly)
                    out.append(
                        {
                            "type": ri.name,
                            "issuer": str(issuer),
                            "serialNumber": format(rid.chosen["serial_number"].native, "x"),
                        }
                    )
                else:
                    ski = rid.chosen if rid.name == "subject_key_identifier" else rid.chosen["subject_key_identifier"]
                    out.append({"type": ri.name, "subjectKeyIdentifier": bytes(ski.native).hex()})
            if not rids:
                out.append({"type": ri.name})
        except (ValueError, TypeError, KeyError):
            out.append({"type": "malformed"})
    return out


def _ktri_padding(ktri: Any) -> RsaDecryptPadding:
    kea = ktri["key_encryption_algorithm"]
    oid = kea["algorithm"].dotted
    if oid == alg.OID_RSA_ENCRYPTION:
        return RsaDecryptPadding.PKCS1V15
    if oid == alg.OID_RSAES_OAEP:
        return (
            RsaDecryptPadding.OAEP_SHA256
            if alg.oaep_hash(kea["parameters"]) == "sha256"
            else (RsaDecryptPadding.OAEP_SHA1)
        )
    raise Unsupported(_("Unsupported key transport algorithm ({oid}).").format(oid=oid[:64]))


def _originator_point(kri: Any) -> bytes:
    originator = kri["originator"]
    if originator.name != "originator_key":
        raise Unsupported(_("Only ephemeral-static ECDH (originatorKey) is supported."))
    bits = originator.chosen["public_key"].contents
    if not bits or bits[0] != 0:
        raise decryption_failed()
    return bytes(bits[1:])


def recover_key(token: Token, match: RecipientMatch, prompt: PinPrompt) -> bytes:
    """The content-encryption key, through the token. Raises `decryption_failed()` on crypto failure."""
    try:
        if match.kind == "ktri":
            padding = _ktri_padding(match.info)
            try:
                return bytes(token.decrypt_raw(match.entry, match.encrypted_key, padding, prompt=prompt))
            except InvalidInput:
                raise decryption_failed() from None
        kri = match.info
        kea = kri["key_encryption_algorithm"]
        scheme = kea["algorithm"].dotted
        kdf_hash = alg.KARI_SCHEMES.get(scheme)
        if kdf_hash is None:
            raise Unsupported(_("Unsupported key agreement algorithm ({oid}).").format(oid=scheme[:64]))
        wrap_der = bytes(kea["parameters"].dump())
        wrap_oid = cms.KeyEncryptionAlgorithm.load(wrap_der)["algorithm"].dotted
        kek_len = alg.AES_WRAP.get(wrap_oid)
        if kek_len is None:
            raise Unsupported(_("Unsupported key wrap algorithm ({oid}).").format(oid=wrap_oid[:64]))
        ukm = kri["ukm"].native
        point = _originator_point(kri)
        size = (match.entry.key_size + 7) // 8
        if len(point) != 1 + 2 * size or point[0] != 4:
            raise decryption_failed()
        try:
            z = token.derive_ecdh(match.entry, point, prompt=prompt)
        except InvalidInput:
            raise decryption_failed() from None
        kek = kari.derive_kek(z, kdf_hash, kek_len, kari.shared_info(wrap_der, kek_len, ukm))
        return bytes(kari.unwrap(kek, match.encrypted_key))
    except InvalidUnwrap:
        raise decryption_failed() from None
    except (ValueError, TypeError, KeyError):
        raise InvalidInput(_("The recipient information of the file is malformed.")) from None
