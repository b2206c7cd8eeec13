"""Signature formats: PAdES B-B of a 50 MB PDF vs pyHanko alone, and 100 PES bordereaux with one PIN.

1. PAdES B-B of a 50 MB PDF (SCEAU_BENCH_PDF_MB to change), key in memory (PKCS#12) so the token is
   excluded: `sceau.formats.pades.sign_pdf` vs pyHanko's own SimpleSigner + PdfSigner on the same
   file in the same run. Goal (DESIGN.md §6): ≤ 1 s, ratio close to 1.
2. A PES_Aller with 100 bordereaux signed on SoftHSM2 (RSA-2048 and EC P-256): total time, time
   per bordereau, and how many times the PIN was asked (goal: once; ≤ 5 s).
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks.common import softhsm_pki
from benchmarks.paired import compare

PDF_MB = int(os.environ.get("SCEAU_BENCH_PDF_MB", "50"))
BORDEREAUX = int(os.environ.get("SCEAU_BENCH_PES_N", "100"))


def big_pdf(size_mb: int) -> bytes:
    """A valid one-page PDF padded with an incompressible-looking content stream."""
    filler = (os.urandom(1 << 20).hex().encode() * ((size_mb // 2) + 1))[: size_mb << 20]
    content = b"BT /F1 18 Tf 72 720 Td (Marche public - lot unique) Tj ET\n% " + filler + b"\n"
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 << "
        b"/Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for n, body in enumerate(bodies, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets))
    out.write(b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def pes_file(n: int) -> bytes:
    parts = "".join(
        f'<Bordereau Id="BORD{i}"><BlocBordereau><Exer V="2026"/><IdBord V="{i}"/>'
        f'<Libelle V="Mandats n°{i} — crèche"/></BlocBordereau>'
        + "".join(f'<Piece><IdPce V="{i}{j}"/><Nom V="Société Générale d\'Électricité"/></Piece>' for j in range(5))
        + "</Bordereau>\n"
        for i in range(n)
    )
    text = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<PES_Aller><EnTetePES/><PES_DepenseAller>\n'
        + parts
        + "</PES_DepenseAller></PES_Aller>\n"
    )
    return text.replace("—", "-").encode("iso-8859-1")


def bench_pades(pki_root: Path, p12: str, password: str) -> None:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    from sceau.formats import pades
    from sceau.formats.options import SignOptions
    from sceau.formats.signer import TokenKey
    from sceau.tokens.pkcs12 import Pkcs12Token

    data = big_pdf(PDF_MB)
    token = Pkcs12Token(Path(p12), password)
    key = TokenKey(token, token.certificates()[0], lambda _r: password)
    simple = signers.SimpleSigner.load_pkcs12(p12, passphrase=password.encode())

    async def ours() -> bytes:
        return await pades.sign_pdf(data, key, SignOptions())

    async def alone() -> bytes:
        meta = signers.PdfSignatureMetadata(
            field_name="Signature1", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
        )
        out = io.BytesIO()
        await signers.PdfSigner(meta, signer=simple).async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(data), strict=False), output=out
        )
        return out.getvalue()

    # Paired (benchmarks.paired): pyHanko alone and sceau interleaved, median of per-pair ratios.
    def side(fn: Callable[[], Awaitable[bytes]]) -> Callable[[], float]:
        def run() -> float:
            t0 = time.perf_counter()
            result = asyncio.run(fn())
            elapsed = time.perf_counter() - t0
            assert len(result) > len(data)
            return elapsed

        return run

    compare(
        f"PAdES B-B {PDF_MB} MB PDF",
        "pyHanko alone",
        side(alone),
        "sceau",
        side(ours),
        goal=("<= 1 s, ratio >= 0.9", lambda r: statistics.median(r.candidate_s) <= 1.0 and r.median >= 0.9),
    )


async def bench_pes(pki: object, module: str) -> None:
    from sceau.devkit import softhsm
    from sceau.formats import pes
    from sceau.formats.options import SignOptions
    from sceau.formats.signer import BatchPinPrompt, TokenKey
    from sceau.tokens.pkcs11 import Pkcs11Backend
    from sceau.ui.headless import HeadlessUI

    data = pes_file(BORDEREAUX)
    backend = Pkcs11Backend([module])
    try:
        token = next(t for t in backend.tokens() if t.info.label == softhsm.TOKEN_LABEL)
        entries = {e.label: e for e in token.certificates()}
        for name in ("sign-rsa2048", "sign-ec256", "sign-rsa3072"):
            token.logout()
            ui = HeadlessUI(pin=softhsm.USER_PIN)
            prompt = BatchPinPrompt(ui.ask_pin)
            key = TokenKey(token, entries[name], prompt)
            t0 = time.perf_counter()
            signed = await pes.sign_pes(data, key, SignOptions())
            elapsed = time.perf_counter() - t0
            assert signed.count(b"<ds:Signature ") == BORDEREAUX
            note = " (CKA_ALWAYS_AUTHENTICATE)" if entries[name].always_authenticate or name == "sign-rsa3072" else ""
            goal = "OK" if elapsed <= 5 else "over the 5 s goal"
            print(
                f"  PES {BORDEREAUX} bordereaux, {name}{note}: {elapsed * 1e3:8.1f} ms "
                f"({elapsed / BORDEREAUX * 1e3:.2f} ms each), PIN typed {len(ui.pin_requests)}× "
                f"[{goal}]"
            )
    finally:
        backend.close()


def main() -> None:
    pki, module = softhsm_pki()
    from sceau.devkit import pki as devpki

    print(f"PAdES B-B, {PDF_MB} MB PDF, key in memory (token excluded)")
    bench_pades(pki.root, pki["sign-rsa2048"].p12, devpki.P12_PASSWORD)
    print(f"PES V2, {BORDEREAUX} bordereaux, SoftHSM2 {module}")
    asyncio.run(bench_pes(pki, module))


if __name__ == "__main__":
    main()
