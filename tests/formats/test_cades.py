"""CAdES detached: every signature checked by `openssl cms -verify`, every time-stamp by `openssl ts -verify`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import cms

from sceau.devkit import verifiers
from sceau.devkit.pki import DevPki
from sceau.errors import BadRequest, InvalidInput
from sceau.formats import cades
from sceau.formats.options import Level, SignOptions
from sceau.formats.signer import TokenKey
from sceau.formats.tsp import TimestampError, TsaClient
from sceau.tokens.base import Digest, SignScheme

from .conftest import BACKENDS, KEYS, run

DOC = "Offre de prix — lot n°1 (BPU).\n".encode() * 50


def openssl_cms_verify(pki: DevPki, sig: bytes, content: bytes, tmp: Path) -> bool:
    return openssl_cms_verify_result(pki, sig, content, tmp).ok


def openssl_cms_verify_result(pki: DevPki, sig: bytes, content: bytes, tmp: Path) -> verifiers.ToolResult:
    """`openssl cms -verify` of a detached signature, trusting the root CA only."""
    (tmp / "sig.p7s").write_bytes(sig)
    (tmp / "doc.bin").write_bytes(content)
    return verifiers.openssl_cms_verify(tmp / "sig.p7s", content=tmp / "doc.bin", trusted=pki.root_ca)


def openssl_ts_verify(pki: DevPki, token_der: bytes, imprint: bytes, tmp: Path) -> bool:
    (tmp / "tok.der").write_bytes(token_der)
    res = run(
        [
            "openssl",
            "ts",
            "-verify",
            "-token_in",
            "-in",
            str(tmp / "tok.der"),
            "-digest",
            imprint.hex(),
            "-CAfile",
            str(pki.root_ca),
            "-untrusted",
            str(pki.chain),
        ]
    )
    return res.returncode == 0 and "Verification: OK" in res.stdout


def signer_info(sig: bytes) -> cms.SignerInfo:
    return cms.ContentInfo.load(sig)["content"]["signer_infos"][0]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", KEYS)
async def test_b_b_verifies_with_openssl(
    backend: str, name: str, make_key: Callable[[str, str], TokenKey], fpki: DevPki, tmp_path: Path
) -> None:
    key = make_key(backend, name)
    sig = await cades.sign_detached(DOC, key, SignOptions())
    assert openssl_cms_verify(fpki, sig, DOC, tmp_path)
    attrs = {a["type"].native for a in signer_info(sig)["signed_attrs"]}
    assert {"content_type", "message_digest", "signing_time", "signing_certificate_v2"} <= attrs
    # One byte changed in the document: openssl must refuse.
    assert not openssl_cms_verify(fpki, sig, DOC[:-1] + b"?", tmp_path)


@pytest.mark.parametrize("digest", [Digest.SHA384, Digest.SHA512])
async def test_other_digests_and_pss(
    digest: Digest, make_key: Callable[[str, str], TokenKey], fpki: DevPki, tmp_path: Path
) -> None:
    key = make_key("p11", "sign-rsa2048")
    key.scheme = SignScheme.RSA_PSS
    sig = await cades.sign_detached(DOC, key, SignOptions(digest=digest))
    assert signer_info(sig)["signature_algorithm"]["algorithm"].native == "rsassa_pss"
    assert openssl_cms_verify(fpki, sig, DOC, tmp_path)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", KEYS)
async def test_b_t_timestamp_verifies(
    backend: str,
    name: str,
    make_key: Callable[[str, str], TokenKey],
    fpki: DevPki,
    tsa: TsaClient,
    tmp_path: Path,
) -> None:
    key = make_key(backend, name)
    sig = await cades.sign_detached(DOC, key, SignOptions(level=Level.B_T, tsa=tsa))
    assert openssl_cms_verify(fpki, sig, DOC, tmp_path)
    si = signer_info(sig)
    token = si["unsigned_attrs"][0]["values"][0]
    imprint = hashlib.sha256(si["signature"].native).digest()
    assert openssl_ts_verify(fpki, token.dump(), imprint, tmp_path)


async def test_b_lt_embeds_revocation(
    make_key: Callable[[str, str], TokenKey], fpki: DevPki, tsa: TsaClient, tmp_path: Path
) -> None:
    key = make_key("p12", "sign-ec256")
    sig = await cades.sign_detached(DOC, key, SignOptions(level=Level.B_LT, tsa=tsa))
    assert openssl_cms_verify(fpki, sig, DOC, tmp_path)
    sd = cms.ContentInfo.load(sig)["content"]
    kinds = {c.name for c in sd["crls"]}
    assert kinds & {"crl", "other"}
    subjects = {c.chosen.subject.native["common_name"] for c in sd["certificates"]}
    assert "Sceau Test Horodatage" in subjects  # TSA chain embedded too


async def test_b_t_without_tsa_is_refused(make_key: Callable[[str, str], TokenKey]) -> None:
    with pytest.raises(BadRequest):
        await cades.sign_detached(DOC, make_key("p12", "sign-rsa2048"), SignOptions(level=Level.B_T))


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("tsa-500", TimestampError),
        ("tsa-garbage", InvalidInput),
        ("tsa-wrong", InvalidInput),
        ("tsa-rejected", InvalidInput),
    ],
)
async def test_bad_tsa_never_returns_b_b(
    path: str, error: type[Exception], make_key: Callable[[str, str], TokenKey], services: object
) -> None:
    base = services.base  # type: ignore[attr-defined]
    client = TsaClient(f"{base}/{path}", timeout=5, retries=0)
    with pytest.raises(error):
        await cades.sign_detached(DOC, make_key("p12", "sign-rsa2048"), SignOptions(level=Level.B_T, tsa=client))


async def test_tsa_down(make_key: Callable[[str, str], TokenKey]) -> None:
    from sceau.devkit.services import free_port

    client = TsaClient(f"http://127.0.0.1:{free_port()}/tsa", timeout=2, retries=1)
    with pytest.raises(TimestampError):
        await cades.sign_detached(DOC, make_key("p12", "sign-rsa2048"), SignOptions(level=Level.B_T, tsa=client))


async def test_tsa_nonce_and_imprint_checked(services: object) -> None:
    """A TSA answering another request (replayed nonce) is refused even though its token is genuine."""
    from asn1crypto import tsp as asn1_tsp

    from sceau.formats.tsp import http_post

    async def tampering(url: str, body: bytes, timeout: float) -> bytes:
        req = asn1_tsp.TimeStampReq.load(body)
        other = asn1_tsp.TimeStampReq(
            {
                "version": 1,
                "message_imprint": req["message_imprint"],
                "nonce": req["nonce"].native + 1,
                "cert_req": True,
            }
        )
        return await http_post(url, other.dump(), timeout)

    client = TsaClient(services.tsa_url, retries=0, transport=tampering)  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput, match="nonce"):
        await client.timestamp(hashlib.sha256(b"x").digest(), Digest.SHA256)
    genuine = await TsaClient(services.tsa_url).timestamp(hashlib.sha256(b"x").digest(), Digest.SHA256)  # type: ignore[attr-defined]
    assert genuine.tsa_certificate.subject.rfc4514_string().startswith("CN=Sceau Test Horodatage")
