"""PAdES: every signed PDF is checked by poppler's `pdfsig` and by pyHanko's validator."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext

from sceau.devkit import pki as devpki
from sceau.devkit import verifiers
from sceau.devkit.pki import DevPki
from sceau.errors import InvalidInput
from sceau.formats import pades
from sceau.formats.options import Level, SignOptions
from sceau.formats.signer import TokenKey
from sceau.formats.tsp import TsaClient

from .conftest import BACKENDS, KEYS
from .pdfs import make_encrypted_pdf, make_pdf


def pdfsig_all_valid(data: bytes, tmp: Path, expected: int) -> bool:
    (tmp / "f.pdf").write_bytes(data)
    return verifiers.pdfsig_valid_count(tmp / "f.pdf") == expected


def _root(pki: DevPki) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(_der(pki.root_ca))


def _vc(pki: DevPki, **kw: object) -> ValidationContext:
    return ValidationContext(trust_roots=[_root(pki)], **kw)


def _der(path: Path) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(Path(path).read_bytes()).public_bytes(Encoding.DER)


KU = KeyUsageConstraints(key_usage={"non_repudiation"})


async def pyhanko_valid(pki: DevPki, data: bytes, *, timestamped: bool = False) -> bool:
    reader = PdfFileReader(io.BytesIO(data))
    ok = True
    for sig in reader.embedded_signatures:
        status = await async_validate_pdf_signature(sig, _vc(pki, allow_fetching=False), key_usage_settings=KU)
        ok = ok and status.intact and status.valid and status.trusted
        if timestamped:
            ok = ok and status.timestamp_validity is not None and status.timestamp_validity.valid
    return ok and bool(reader.embedded_signatures)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", KEYS)
async def test_b_b(
    backend: str, name: str, make_key: Callable[[str, str], TokenKey], fpki: DevPki, tmp_path: Path
) -> None:
    signed = await pades.sign_pdf(
        make_pdf(),
        make_key(backend, name),
        SignOptions(),
        pades.PadesOptions(reason="Signature de l'acte d'engagement", location="Orléans"),
    )
    assert pdfsig_all_valid(signed, tmp_path, 1)
    assert await pyhanko_valid(fpki, signed)
    tampered = signed.replace(b"page 1", b"page 7", 1)
    assert not pdfsig_all_valid(tampered, tmp_path, 1)
    assert not await pyhanko_valid(fpki, tampered)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_b_t_visible_then_second_signature(
    backend: str, make_key: Callable[[str, str], TokenKey], fpki: DevPki, tsa: TsaClient, tmp_path: Path
) -> None:
    opts = pades.PadesOptions(
        reason="Signature de l'acte d'engagement",
        location="Saint-Aubin",
        visible=pades.VisibleSignature(page=-1, box=(40, 40, 300, 110)),
    )
    first = await pades.sign_pdf(
        make_pdf(2), make_key(backend, "sign-rsa2048"), SignOptions(level=Level.B_T, tsa=tsa), opts
    )
    assert await pyhanko_valid(fpki, first, timestamped=True)
    second = await pades.sign_pdf(first, make_key(backend, "sign-ec256"), SignOptions(level=Level.B_T, tsa=tsa))
    assert second.startswith(first)  # incremental update
    assert pdfsig_all_valid(second, tmp_path, 2)
    assert await pyhanko_valid(fpki, second, timestamped=True)


async def test_b_lt_dss(make_key: Callable[[str, str], TokenKey], fpki: DevPki, tsa: TsaClient, tmp_path: Path) -> None:
    signed = await pades.sign_pdf(make_pdf(), make_key("p11", "sign-ec256"), SignOptions(level=Level.B_LT, tsa=tsa))
    assert pdfsig_all_valid(signed, tmp_path, 1)
    reader = PdfFileReader(io.BytesIO(signed))
    assert "/DSS" in reader.root
    # Offline, revocation required: only what the DSS holds can satisfy the validator.
    dss = DocumentSecurityStore.read_dss(reader)
    vc = dss.as_validation_context(
        {"trust_roots": [_root(fpki)], "allow_fetching": False, "revocation_mode": "hard-fail"}
    )
    status = await async_validate_pdf_signature(reader.embedded_signatures[0], vc, key_usage_settings=KU)
    assert status.intact and status.valid and status.trusted
    assert dss.crls or dss.ocsps


async def test_certification(make_key: Callable[[str, str], TokenKey], fpki: DevPki, tmp_path: Path) -> None:
    signed = await pades.sign_pdf(
        make_pdf(),
        make_key("p12", "sign-rsa2048"),
        SignOptions(),
        pades.PadesOptions(certify=True, docmdp="no-changes"),
    )
    assert pdfsig_all_valid(signed, tmp_path, 1)
    assert await pyhanko_valid(fpki, signed)
    with pytest.raises(InvalidInput):
        await pades.sign_pdf(signed, make_key("p12", "sign-ec256"), SignOptions(), pades.PadesOptions(certify=True))


async def test_existing_pyhanko_signature_stays_valid(
    make_key: Callable[[str, str], TokenKey], fpki: DevPki, tmp_path: Path
) -> None:
    simple = signers.SimpleSigner.load_pkcs12(fpki["sign-ec256"].p12, passphrase=devpki.P12_PASSWORD.encode())
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    out = io.BytesIO()
    await signers.async_sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(make_pdf())),
        signers.PdfSignatureMetadata(field_name="Existante"),
        simple,
        output=out,
    )
    ours = await pades.sign_pdf(out.getvalue(), make_key("p11", "sign-rsa2048"), SignOptions())
    assert pdfsig_all_valid(ours, tmp_path, 2)
    assert await pyhanko_valid(fpki, ours)


@pytest.mark.parametrize(
    "data",
    [b"not a pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage", make_pdf()[:200]],
)
async def test_corrupt_pdf(data: bytes, make_key: Callable[[str, str], TokenKey]) -> None:
    with pytest.raises(InvalidInput):
        await pades.sign_pdf(data, make_key("p12", "sign-rsa2048"), SignOptions())


async def test_encrypted_pdf(make_key: Callable[[str, str], TokenKey]) -> None:
    with pytest.raises(InvalidInput, match=r"encrypted|chiffré"):
        await pades.sign_pdf(make_encrypted_pdf(), make_key("p12", "sign-rsa2048"), SignOptions())
