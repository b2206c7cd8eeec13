"""`verify` handler and `sceau verify` CLI: reports in both languages, exit codes, bad input."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sceau.config import Config
from sceau.devkit import pki as devpki
from sceau.devkit.pki import DevPki
from sceau.errors import BadRequest
from sceau.operations.context import OperationContext
from sceau.operations.verify import OPERATION
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.registry import TokenManager
from sceau.ui.headless import HeadlessUI

DOC = b"Bordereau des prix unitaires\n" * 10


def ctx(pki: DevPki) -> OperationContext:
    config = Config(trust_anchors=(str(pki.root_ca),))
    return OperationContext(
        "https://marches.example.fr", HeadlessUI(), TokenManager([]), config, TokenExecutor()
    )


def b64(data: bytes) -> dict[str, Any]:
    return {"data": base64.b64encode(data).decode()}


def openssl_cades(pki: DevPki, tmp: Path) -> bytes:
    (tmp / "doc").write_bytes(DOC)
    subprocess.run(
        [
            "openssl",
            "cms",
            "-sign",
            "-binary",
            "-in",
            str(tmp / "doc"),
            "-signer",
            pki["sign-ec256"].cert,
            "-inkey",
            pki["sign-ec256"].key_pem,
            "-certfile",
            str(pki.intermediate_ca),
            "-outform",
            "DER",
            "-out",
            str(tmp / "sig.p7s"),
        ],
        check=True,
        capture_output=True,
    )
    return (tmp / "sig.p7s").read_bytes()


async def pyhanko_pdf(pki: DevPki) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.writer import PdfFileWriter
    from pyhanko.sign import signers

    w = PdfFileWriter()
    from pyhanko.pdf_utils import generic

    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
        }
    )
    w.insert_page(page)
    raw = io.BytesIO()
    w.write(raw)
    simple = signers.SimpleSigner.load_pkcs12(pki["sign-rsa2048"].p12, passphrase=devpki.P12_PASSWORD.encode())
    out = io.BytesIO()
    await signers.async_sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(raw.getvalue())),
        signers.PdfSignatureMetadata(field_name="Sig1"),
        simple,
        output=out,
    )
    return out.getvalue()


async def test_handler_detached_cades(pki: DevPki, tmp_path: Path) -> None:
    sig = openssl_cades(pki, tmp_path)
    args = {
        "document": b64(sig),
        "name": "BPU.rtf - Signature 1.p7s",
        "detached": b64(DOC),
        "detachedName": "BPU.rtf",
        "language": "fr",
    }
    result = await OPERATION.run(ctx(pki), OPERATION.parse(args))
    assert result["valid"] is True and result["format"] == "cades"
    assert "Signé au moyen de signatures valables" in result["text"]
    args["detached"] = b64(DOC + b"!")
    result = await OPERATION.run(ctx(pki), OPERATION.parse(args))
    assert result["valid"] is False and result["signatures"][0]["integrity"] is False


async def test_handler_pdf_and_garbage(pki: DevPki) -> None:
    pdf = await pyhanko_pdf(pki)
    result = await OPERATION.run(ctx(pki), OPERATION.parse({"document": b64(pdf), "name": "a.pdf", "language": "en"}))
    assert result["valid"] is True, result["text"]
    assert "The signer's identity is valid." in result["text"]
    result = await OPERATION.run(ctx(pki), OPERATION.parse({"document": b64(b"%PDF-1.7 nope"), "name": "b.pdf"}))
    assert result["valid"] is False and result["error"]


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"document": "x"},
        {"document": {"data": "eA=="}, "language": "de"},
        {"document": {"data": "eA=="}, "detached": 3},
    ],
)
def test_bad_args(args: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        OPERATION.parse(args)


def test_cli_exit_codes(pki: DevPki, tmp_path: Path) -> None:
    sig = openssl_cades(pki, tmp_path)
    (tmp_path / "BPU.rtf").write_bytes(DOC)
    (tmp_path / "s.p7s").write_bytes(sig)
    env = dict(os.environ, SCEAU_LANG="fr")
    base = [sys.executable, "-m", "sceau.cli", "verify", str(tmp_path / "s.p7s"), "--trust", str(pki.root_ca)]
    ok = subprocess.run(
        [*base, "--detached", str(tmp_path / "BPU.rtf")], capture_output=True, text=True, env=env, check=False
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "L'identité du signataire est valable" in ok.stdout
    (tmp_path / "BPU.rtf").write_bytes(DOC[:-1])
    bad = subprocess.run(
        [*base, "--detached", str(tmp_path / "BPU.rtf"), "--lang", "en"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 1
    assert "has been modified" in bad.stdout
    assert "Traceback" not in bad.stderr
