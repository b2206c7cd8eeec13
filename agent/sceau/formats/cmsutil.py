"""Small CMS helpers shared by CAdES, the RFC 3161 client and verification."""

from __future__ import annotations

# Importing pyHanko registers the CAdES attribute types (signing_certificate_v2...) with asn1crypto.
import pyhanko.sign.general  # noqa: F401
from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from sceau.tokens.base import Digest

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def hash_for(name: str) -> hashes.HashAlgorithm:
    try:
        return _HASHES[name]()
    except KeyError:
        raise ValueError(f"unsupported digest {name}") from None


def digest_bytes(name: str, data: bytes) -> bytes:
    h = hashes.Hash(hash_for(name))
    h.update(data)
    return h.finalize()


def signed_attrs_bytes(signer_info: cms.SignerInfo) -> bytes:
    """The DER that was signed: the signed attributes re-tagged as a SET (RFC 5652 §5.4)."""
    raw: bytes = signer_info["signed_attrs"].dump()
    return b"\x31" + raw[1:]


def get_attr(attrs: cms.CMSAttributes, name: str) -> object | None:
    """First value of the attribute `name` (asn1crypto name), or None."""
    if not attrs:
        return None
    for attr in attrs:
        if attr["type"].native == name:
            values = attr["values"]
            return values[0] if len(values) else None
    return None


def verify_raw(
    cert: x509.Certificate, algorithm: algos.SignedDigestAlgorithm, digest_algorithm: str, signature: bytes, data: bytes
) -> bool:
    """Check a CMS-style signature (DER for ECDSA) over `data` with the certificate's public key."""
    key = cert.public_key()
    sig_name = algorithm["algorithm"].native
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if sig_name == "rsassa_pss":
                params = algorithm["parameters"]
                h = hash_for(params["hash_algorithm"]["algorithm"].native)
                mgf_h = hash_for(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
                key.verify(signature, data, padding.PSS(padding.MGF1(mgf_h), params["salt_length"].native), h)
            else:
                key.verify(signature, data, padding.PKCS1v15(), hash_for(digest_algorithm))
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hash_for(digest_algorithm)))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def find_signer_cert(
    sid: cms.SignerIdentifier, certificates: list[asn1_x509.Certificate]
) -> asn1_x509.Certificate | None:
    """The certificate a SignerIdentifier names, among the embedded ones."""
    for cert in certificates:
        if sid.name == "issuer_and_serial_number":
            if cert.issuer == sid.chosen["issuer"] and cert.serial_number == sid.chosen["serial_number"].native:
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None


def to_crypto(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def embedded_certificates(signed_data: cms.SignedData) -> list[asn1_x509.Certificate]:
    out: list[asn1_x509.Certificate] = []
    certs = signed_data["certificates"]
    if certs is None or not certs.native:
        return out
    for choice in certs:
        if choice.name == "certificate":
            out.append(choice.chosen)
    return out


def digest_algorithm_id(digest: Digest) -> algos.DigestAlgorithm:
    return algos.DigestAlgorithm({"algorithm": digest.value})


def asn1_from_crypto(cert: x509.Certificate) -> asn1_x509.Certificate:
    from cryptography.hazmat.primitives.serialization import Encoding

    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
