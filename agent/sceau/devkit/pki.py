"""Throw-away test and demo PKI: CAs, per-role certificates, CRL, PKCS#12 files.

Everything is generated on the fly (tests, `make demo`); no key is ever committed.
`python -m sceau.devkit.pki DIR` writes a PKI; with `--softhsm` it also creates a SoftHSM2 token
under DIR/softhsm (`sceau.devkit.softhsm`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

P12_PASSWORD = "motdepasse"  # throw-away PKCS#12 files only

COMPANY = ("Bâtiments Durand SARL", "NTRFR-552100554")
COMMUNE = ("Commune de Saint-Aubin-sur-Loire", "NTRFR-214901234")


@dataclass(frozen=True)
class IdentitySpec:
    name: str  # also the token label and file stem
    role: str  # sign / auth / enc / tsa / ocsp
    key: str  # rsa2048 / rsa3072 / ec256 / ec384
    holder: tuple[str, str]  # given name, surname
    org: tuple[str, str]
    expired: bool = False
    revoked: bool = False
    on_token: bool = True
    always_authenticate: bool = False


SPECS: tuple[IdentitySpec, ...] = (
    IdentitySpec("sign-rsa2048", "sign", "rsa2048", ("Marie", "Durand"), COMPANY),
    IdentitySpec("auth-rsa2048", "auth", "rsa2048", ("Marie", "Durand"), COMPANY),
    IdentitySpec("enc-rsa2048", "enc", "rsa2048", ("Marie", "Durand"), COMPANY),
    IdentitySpec("sign-rsa3072", "sign", "rsa3072", ("Jean", "Lefèvre"), COMMUNE, always_authenticate=True),
    IdentitySpec("auth-rsa3072", "auth", "rsa3072", ("Jean", "Lefèvre"), COMMUNE),
    IdentitySpec("enc-rsa3072", "enc", "rsa3072", ("Jean", "Lefèvre"), COMMUNE),
    IdentitySpec("sign-ec256", "sign", "ec256", ("Élodie", "Moreau"), COMMUNE),
    IdentitySpec("auth-ec256", "auth", "ec256", ("Élodie", "Moreau"), COMMUNE),
    IdentitySpec("enc-ec256", "enc", "ec256", ("Élodie", "Moreau"), COMMUNE),
    IdentitySpec("enc-backup-rsa2048", "enc", "rsa2048", ("Clé", "de secours"), COMMUNE),
    IdentitySpec("auth-expired", "auth", "rsa2048", ("Paul", "Ancien"), COMPANY, expired=True),
    IdentitySpec("sign-expired", "sign", "rsa2048", ("Paul", "Ancien"), COMPANY, expired=True),
    IdentitySpec("auth-revoked", "auth", "rsa2048", ("Luc", "Révoqué"), COMPANY, revoked=True),
    IdentitySpec("sign-revoked", "sign", "rsa2048", ("Luc", "Révoqué"), COMPANY, revoked=True),
    IdentitySpec("tsa", "tsa", "rsa2048", ("Horodatage", "Test"), ("Sceau Tests", "NTRFR-000000000"), on_token=False),
    IdentitySpec("ocsp", "ocsp", "rsa2048", ("OCSP", "Test"), ("Sceau Tests", "NTRFR-000000000"), on_token=False),
)


@dataclass(frozen=True)
class Identity:
    """Files and facts of one generated identity (as stored in manifest.json)."""

    name: str
    role: str
    key: str
    cert: str  # PEM path
    key_pem: str  # unencrypted PKCS#8 PEM (throw-away test key)
    p12: str
    key_id: str  # hex CKA_ID (SHA-1 of the public key, as many tokens do)
    on_token: bool
    serial: int
    always_authenticate: bool


@dataclass(frozen=True)
class DevPki:
    root: Path
    identities: dict[str, Identity]

    @property
    def root_ca(self) -> Path:
        return self.root / "root-ca.pem"

    @property
    def intermediate_ca(self) -> Path:
        return self.root / "intermediate-ca.pem"

    @property
    def chain(self) -> Path:
        """Intermediate then root, PEM."""
        return self.root / "chain.pem"

    @property
    def crl(self) -> Path:
        return self.root / "intermediate.crl.pem"

    @property
    def softhsm_conf(self) -> Path:
        return self.root / "softhsm" / "softhsm2.conf"

    def __getitem__(self, name: str) -> Identity:
        return self.identities[name]

    def cert(self, name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(Path(self[name].cert).read_bytes())

    def key(self, name: str) -> PrivateKey:
        key = serialization.load_pem_private_key(Path(self[name].key_pem).read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        return key

    @classmethod
    def load(cls, root: Path) -> DevPki:
        data = json.loads((root / "manifest.json").read_text())
        return cls(root, {k: Identity(**v) for k, v in data["identities"].items()})


def _new_key(kind: str) -> PrivateKey:
    if kind.startswith("rsa"):
        return rsa.generate_private_key(65537, int(kind[3:]))
    return ec.generate_private_key(ec.SECP256R1() if kind == "ec256" else ec.SECP384R1())


def _name(cn: str, org: tuple[str, str], given: str = "", surname: str = "", unit: str = "") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org[0])]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, org[1]))
    if given:
        attrs.append(x509.NameAttribute(NameOID.GIVEN_NAME, given))
    if surname:
        attrs.append(x509.NameAttribute(NameOID.SURNAME, surname))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _key_usage(**flags: bool) -> x509.KeyUsage:
    names = [
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    ]
    return x509.KeyUsage(**{n: flags.get(n, False) for n in names})


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def generate(root: Path, *, crl_url: str | None = None, ocsp_url: str | None = None) -> DevPki:
    """Generate the whole PKI into `root` (created) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)
    ca_org = ("Sceau Tests", "NTRFR-000000000")

    root_key = ec.generate_private_key(ec.SECP384R1())
    root_name = _name("Sceau Test Autorité Racine", ca_org)
    root_cert = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=7300))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA384())
    )
    int_key = rsa.generate_private_key(65537, 2048)
    int_name = _name("Sceau Test AC Personnes RGS", ca_org, unit="0002 000000000")
    int_builder = (
        x509.CertificateBuilder()
        .subject_name(int_name)
        .issuer_name(root_name)
        .public_key(int_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3000))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(int_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
    )
    int_cert = int_builder.sign(root_key, hashes.SHA384())
    _write(root / "root-ca.pem", _pem(root_cert))
    _write(root / "intermediate-ca.pem", _pem(int_cert))
    _write(root / "chain.pem", _pem(int_cert) + _pem(root_cert))
    _write(root / "intermediate-ca.key.pem", _pkcs8(int_key), private=True)

    identities: dict[str, Identity] = {}
    revoked: list[x509.Certificate] = []
    users = root / "users"
    users.mkdir(exist_ok=True)
    for spec in SPECS:
        key = _new_key(spec.key)
        cert = _issue(spec, key, int_cert, int_key, now, crl_url, ocsp_url)
        if spec.revoked:
            revoked.append(cert)
        stem = users / spec.name
        _write(stem.with_suffix(".pem"), _pem(cert))
        _write(stem.with_suffix(".key.pem"), _pkcs8(key), private=True)
        p12 = pkcs12.serialize_key_and_certificates(
            spec.name.encode(),
            key,
            cert,
            [int_cert, root_cert],
            serialization.BestAvailableEncryption(P12_PASSWORD.encode()),
        )
        _write(stem.with_suffix(".p12"), p12, private=True)
        identities[spec.name] = Identity(
            name=spec.name,
            role=spec.role,
            key=spec.key,
            cert=str(stem.with_suffix(".pem")),
            key_pem=str(stem.with_suffix(".key.pem")),
            p12=str(stem.with_suffix(".p12")),
            key_id=_key_id(cert),
            on_token=spec.on_token,
            serial=cert.serial_number,
            always_authenticate=spec.always_authenticate,
        )

    crl = x509.CertificateRevocationListBuilder().issuer_name(int_cert.subject)
    crl = crl.last_update(now - timedelta(hours=1)).next_update(now + timedelta(days=30))
    for cert in revoked:
        crl = crl.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now - timedelta(days=1))
            .build()
        )
    crl_obj = crl.sign(int_key, hashes.SHA256())
    _write(root / "intermediate.crl.pem", crl_obj.public_bytes(serialization.Encoding.PEM))
    _write(root / "intermediate.crl", crl_obj.public_bytes(serialization.Encoding.DER))
    manifest = {"generated": now.isoformat(), "identities": {k: asdict(v) for k, v in identities.items()}}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return DevPki(root, identities)


def _pkcs8(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _key_id(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(spki, usedforsecurity=False).hexdigest()[:16]


def _issue(
    spec: IdentitySpec,
    key: PrivateKey,
    ca_cert: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    now: datetime,
    crl_url: str | None,
    ocsp_url: str | None,
) -> x509.Certificate:
    given, surname = spec.holder
    cn = f"{given} {surname}"
    if spec.role == "tsa":
        cn = "Sceau Test Horodatage"
    elif spec.role == "ocsp":
        cn = "Sceau Test Répondeur OCSP"
    start, end = (
        (now - timedelta(days=800), now - timedelta(days=30))
        if spec.expired
        else (
            now - timedelta(days=1),
            now + timedelta(days=1095),
        )
    )
    ku: x509.KeyUsage
    eku: list[x509.ObjectIdentifier] = []
    if spec.role == "sign":
        ku = _key_usage(content_commitment=True)
    elif spec.role == "auth":
        ku = _key_usage(digital_signature=True)
        eku = [ExtendedKeyUsageOID.CLIENT_AUTH]
    elif spec.role == "enc":
        ku = (
            _key_usage(key_agreement=True)
            if spec.key.startswith("ec")
            else _key_usage(key_encipherment=True, data_encipherment=True)
        )
        eku = [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    elif spec.role == "tsa":
        ku = _key_usage(digital_signature=True, content_commitment=True)
        eku = [ExtendedKeyUsageOID.TIME_STAMPING]
    else:
        ku = _key_usage(digital_signature=True)
        eku = [ExtendedKeyUsageOID.OCSP_SIGNING]
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            _name(
                cn,
                spec.org,
                given if spec.role in ("sign", "auth", "enc") else "",
                surname if spec.role in ("sign", "auth", "enc") else "",
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(ku, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=spec.role == "tsa")
    if crl_url:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)]
            ),
            critical=False,
        )
    if ocsp_url and spec.role not in ("ocsp",):
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]
            ),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the throw-away Sceau test/demo PKI.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--softhsm", action="store_true", help="also create a SoftHSM2 token")
    args = parser.parse_args(argv)
    pki = generate(args.directory)
    if args.softhsm:
        from sceau.devkit.softhsm import create_token

        print(f"SOFTHSM2_CONF={create_token(pki)}")
    print(f"PKI written to {args.directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
