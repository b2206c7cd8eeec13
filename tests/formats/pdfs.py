"""Small PDFs made by the tests (no binary fixtures in the repository)."""

from __future__ import annotations

import io


def make_pdf(pages: int = 1, filler: int = 0) -> bytes:
    """A valid PDF with `pages` pages of text and `filler` bytes of stream padding (large-file cases)."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    for i in range(pages):
        content = f"BT /F1 18 Tf 72 720 Td (Acte d'engagement - page {i + 1}) Tj ET\n".encode()
        if i == 0 and filler:
            content += b"% " + b"x" * filler + b"\n"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    return assemble(objects)


def make_encrypted_pdf() -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    src = IncrementalPdfFileWriter(io.BytesIO(make_pdf()))
    w = copy_into_new_writer(src.prev)
    w.encrypt("owner-secret", "user-secret")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def assemble(objects: list[bytes]) -> bytes:
    """A PDF file of `objects` (object 1 the catalog) with its cross-reference table and trailer."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()
