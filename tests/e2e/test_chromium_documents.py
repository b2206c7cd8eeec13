"""End-to-end with large documents: sceau.js uploads and downloads in chunks through the real bridge.

A page in Chromium signs a 5 MB PDF (PAdES), an RTF (CAdES detached) and an XML (XAdES detached) in one
`signDocuments` batch, and encrypts a 5 MB file to two certificates; another tab decrypts it with the
token. The bytes the pages send back to the test relying party are checked by independent tools:
`pdfsig` and pyHanko's validator, `openssl cms -verify`, `xmlsec1 --verify`, `openssl cms -decrypt`.
The bridge caps messages at 2 MiB (conftest), so every 5 MB payload travels in several chunks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sceau.devkit import verifiers
from sceau.devkit.bridge import Bridge
from sceau.devkit.pki import DevPki
from sceau.devkit.testsite import RelyingParty, open_page
from sceau.store.sites import TrustedSites
from tests.formats.pdfs import make_pdf

FIVE_MB = 5 * 1024 * 1024
SIGNER = "sign-rsa2048"


def _make_pdf(filler: int) -> bytes:
    """A valid PDF of about `filler` bytes, made by the helper the formats tests use."""
    return make_pdf(pages=2, filler=filler)


def grant(bridge: Bridge, origin: str, *kinds: str) -> None:
    """Pre-grant through the agent's shared store (what the first-use prompt would record)."""
    TrustedSites(Path(bridge.config.data_path())).grant(origin, kinds)


def run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, timeout=60)


def sign_handle(page: Any, cert: x509.Certificate) -> str:
    listed = page.evaluate("window.run(() => Sceau.listCertificates({role: 'sign'}))")
    assert listed["ok"], listed
    der = cert.public_bytes(Encoding.DER)
    return next(str(c["id"]) for c in listed["result"] if base64.b64decode(c["certificate"]) == der)


# The page fetches its documents from the platform (as Blobs), signs them in one batch, and posts
# each signed output back. It also notes every request sceau.js posts, to count them.
SIGN_BATCH = """async (handle) => {
  const sent = [];
  window.addEventListener("message", (e) => {
    if (e.source === window && e.data && e.data.sceau === "request" && e.data.request) sent.push(e.data.request.cmd);
  });
  const blob = async (name) => (await fetch(`/files/${name}`)).blob();
  const events = [];
  let resolved = false;
  const signed = await window.run(async () => Sceau.signDocuments([
      { name: "offre.pdf", data: await blob("offre.pdf"), format: "pades", mimeType: "application/pdf",
        options: { pades: { reason: "Depot de l'offre" } } },
      { name: "lettre.rtf", data: await blob("lettre.rtf"), format: "cades", mimeType: "application/rtf" },
      { name: "bpu.xml", data: await blob("bpu.xml"), format: "xades", mimeType: "application/xml" },
    ], {
      certificate: handle,
      onProgress: (e) => events.push({ type: e.type, index: e.index, ok: e.ok, name: e.name, late: resolved }),
    }));
  resolved = true;
  if (!signed.ok) return { signed, events, sent };
  const outputs = [];
  for (const item of signed.result.results) {
    const out = item.output;
    outputs.push({ ok: item.ok, name: out.name, size: out.size, bytes: out.data instanceof Uint8Array });
    await fetch(`/files/signed-${item.index}`, { method: "POST", body: out.data });
  }
  return { signed: { ok: true, count: signed.result.signed, level: signed.result.level }, outputs, events, sent };
}"""


def pyhanko_trusted(pki: DevPki, data: bytes) -> bool:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko_certvalidator import ValidationContext

    def load(path: Path) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER))

    reader = PdfFileReader(io.BytesIO(data))
    sigs = reader.embedded_signatures
    if len(sigs) != 1:
        return False
    # The relying party knows the intermediate CA: the signature carries the signer's certificate only.
    vc = ValidationContext(
        trust_roots=[load(pki.root_ca)], other_certs=[load(pki.intermediate_ca)], allow_fetching=False
    )
    ku = KeyUsageConstraints(key_usage={"non_repudiation"})
    # Playwright's sync API runs an event loop in this thread: validate in another one.
    with ThreadPoolExecutor(1) as pool:
        status = pool.submit(asyncio.run, async_validate_pdf_signature(sigs[0], vc, key_usage_settings=ku)).result()
    return bool(status.intact and status.valid and status.trusted and status.signing_cert.sha256 == sha256_cert(pki))


def sha256_cert(pki: DevPki) -> bytes:
    return hashlib.sha256(pki.cert(SIGNER).public_bytes(Encoding.DER)).digest()


def openssl_cms_verify(pki: DevPki, sig: Path, content: Path) -> bool:
    return verifiers.openssl_cms_verify(sig, content=content, trusted=pki.chain).ok  # chain: root + intermediate


def xmlsec_verify(pki: DevPki, sig: Path, doc_name: str, doc: Path) -> bool:
    return verifiers.xmlsec_verify(sig, trusted=pki.root_ca, untrusted=pki.intermediate_ca, url_map={doc_name: doc}).ok


@pytest.fixture(autouse=True)
def _clean_files(rp: RelyingParty) -> Any:
    yield
    rp.files.clear()


def test_batch_of_three_with_a_5mb_pdf(
    browser: Any, bridge: Bridge, rp: RelyingParty, pki: DevPki, tmp_path: Path
) -> None:
    origin = rp.origin(2, host="127.0.0.1")
    grant(bridge, origin, "sign")
    pdf = _make_pdf(FIVE_MB)
    rtf = b"{\\rtf1\\ansi{\\fonttbl\\f0\\fswiss Helvetica;}\\f0\\pard Lettre de candidature, lot 1.\\par}\n" * 200
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n<bpu><ligne prix="12.50">Prestation</ligne></bpu>\n'
    rp.files.update({"offre.pdf": pdf, "lettre.rtf": rtf, "bpu.xml": xml})
    page = open_page(browser, origin + "/")
    handle = sign_handle(page, pki.cert(SIGNER))

    out = page.evaluate(SIGN_BATCH, handle)

    assert out["signed"]["ok"], out["signed"]
    assert out["signed"]["count"] == 3
    assert [o["ok"] and o["bytes"] for o in out["outputs"]] == [True, True, True]
    # One sign-documents request, hence one consent and one PIN for the three documents (the
    # headless agent keeps no journal; the handler asks once per request). The PDF went up in chunks.
    assert out["sent"].count("sign-documents") == 1, out["sent"]
    assert out["sent"].count("upload-chunk") >= 4, out["sent"]  # 5 MB under a 2 MiB message cap
    assert out["sent"].count("fetch-chunk") >= 10, out["sent"]  # the signed PDF, in 512 KiB chunks
    signed_events = [e for e in out["events"] if e["type"] == "document-signed"]
    assert [(e["index"], e["name"], e["ok"]) for e in signed_events] == [
        (0, "offre.pdf", True),
        (1, "lettre.rtf", True),
        (2, "bpu.xml", True),
    ]
    assert not any(e["late"] for e in signed_events), "progress streamed before the batch's answer"
    assert [e["type"] for e in out["events"]].index("upload") < [e["type"] for e in out["events"]].index(
        "document-signed"
    )

    # The relying party checks what it received, with tools that are not ours.
    signed_pdf, p7s, xades = (rp.files[f"signed-{i}"] for i in range(3))
    assert len(signed_pdf) > FIVE_MB and signed_pdf.startswith(pdf), "PAdES appends an incremental update"
    (tmp_path / "signed.pdf").write_bytes(signed_pdf)
    assert verifiers.pdfsig_valid_count(tmp_path / "signed.pdf") == 1
    assert pyhanko_trusted(pki, signed_pdf)
    tampered = bytearray(signed_pdf)
    tampered[len(pdf) // 2] ^= 0x01  # inside the signed byte range (the filler stream)
    (tmp_path / "tampered.pdf").write_bytes(tampered)
    assert verifiers.pdfsig_valid_count(tmp_path / "tampered.pdf") == 0

    (tmp_path / "lettre.rtf").write_bytes(rtf)
    (tmp_path / "lettre.p7s").write_bytes(p7s)
    assert openssl_cms_verify(pki, tmp_path / "lettre.p7s", tmp_path / "lettre.rtf")
    (tmp_path / "other.rtf").write_bytes(rtf + b" ")
    assert not openssl_cms_verify(pki, tmp_path / "lettre.p7s", tmp_path / "other.rtf")

    data_dir = tmp_path / "xml"
    data_dir.mkdir()
    (data_dir / "doc.bin").write_bytes(xml)
    (data_dir / "sig.xml").write_bytes(xades)
    assert xmlsec_verify(pki, data_dir / "sig.xml", "bpu.xml", data_dir / "doc.bin")
    (data_dir / "other.bin").write_bytes(xml.replace(b"12.50", b"99.50"))
    assert not xmlsec_verify(pki, data_dir / "sig.xml", "bpu.xml", data_dir / "other.bin")


ENCRYPT = """async ([mainPem, backupDerB64]) => {
  const backupDer = Uint8Array.from(atob(backupDerB64), (c) => c.charCodeAt(0));
  const file = await (await fetch("/files/offre.zip")).blob();
  const events = [];
  const r = await window.run(() => Sceau.encrypt(file, [mainPem, backupDer], {
    name: "offre.zip", onProgress: (e) => events.push(e.type),
  }));
  if (!r.ok) return r;
  await fetch("/files/offre.zip.p7m", { method: "POST", body: r.result });
  return { ok: true, bytes: r.result instanceof Uint8Array, size: r.result.length, events };
}"""

DECRYPT = """async (mainCertificate) => {
  // The buyer's own key, as platforms do: the backup key is for a lost card.
  const certs = await Sceau.listCertificates({ role: "encrypt" });
  const main = certs.find((c) => c.certificate === mainCertificate);
  const p7m = await (await fetch("/files/offre.zip.p7m")).blob();
  const r = await window.run(() => Sceau.decrypt(p7m, { name: "offre.zip.p7m", certificate: main.id }));
  if (!r.ok) return r;
  await fetch("/files/opened", { method: "POST", body: r.result.data });
  const report = r.result.report;
  return { ok: true, size: r.result.data.length, fingerprint: report.certificate.fingerprintSha256 };
}"""


def openssl_decrypt(pki: DevPki, p7m: Path, name: str, out: Path) -> bytes:
    identity = pki[name]
    res = run(
        [
            "openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(p7m),
            "-recip", identity.cert, "-inkey", identity.key_pem, "-out", str(out),
        ]
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return out.read_bytes()


def test_encrypt_to_two_recipients_then_decrypt_in_another_tab(
    browser: Any, bridge: Bridge, rp: RelyingParty, pki: DevPki, tmp_path: Path
) -> None:
    origin = rp.origin(2, host="127.0.0.1")
    grant(bridge, origin, "encrypt", "decrypt")
    bid = os.urandom(FIVE_MB)
    rp.files["offre.zip"] = bid
    main_pem = Path(pki["enc-rsa3072"].cert).read_text()
    main_der = pki.cert("enc-rsa3072").public_bytes(Encoding.DER)
    backup_der = base64.b64encode(pki.cert("enc-backup-rsa2048").public_bytes(Encoding.DER)).decode()

    depositor = open_page(browser, origin + "/")
    enc = depositor.evaluate(ENCRYPT, [main_pem, backup_der])
    assert enc["ok"], enc
    assert enc["bytes"] and enc["size"] > FIVE_MB
    assert "upload" in enc["events"] and "download" in enc["events"]

    p7m = tmp_path / "offre.zip.p7m"
    p7m.write_bytes(rp.files["offre.zip.p7m"])
    assert len(rp.files["offre.zip.p7m"]) == enc["size"]
    # Each recipient's key opens it on its own, to the very same bytes.
    assert openssl_decrypt(pki, p7m, "enc-rsa3072", tmp_path / "main.out") == bid
    assert openssl_decrypt(pki, p7m, "enc-backup-rsa2048", tmp_path / "backup.out") == bid
    other = run(
        ["openssl", "cms", "-decrypt", "-inform", "DER", "-in", str(p7m), "-recip", pki["enc-rsa2048"].cert,
         "-inkey", pki["enc-rsa2048"].key_pem, "-out", str(tmp_path / "other.out")]
    )  # fmt: skip
    assert other.returncode != 0, "not a recipient: openssl cannot open it"

    buyer = open_page(browser, origin + "/")  # the buyer's tab, at the bid opening
    opened = buyer.evaluate(DECRYPT, base64.b64encode(main_der).decode())
    assert opened["ok"], opened
    assert opened["size"] == FIVE_MB
    assert rp.files["opened"] == bid
    assert opened["fingerprint"] == hashlib.sha256(main_der).hexdigest(), "the key the page chose"
    depositor.close()
    buyer.close()
