"""Hostile inputs built by the tests (no binary fixtures): PDFs that stall or crash naive parsers,
zip bombs split across many small-looking entries."""

from __future__ import annotations

import io


def _assemble(objects: list[bytes]) -> bytes:
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


def dag_pdf(levels: int = 40) -> bytes:
    """A form-field tree whose every level lists the same child twice: a DAG, 2**levels paths, ~1.5 KB."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    for i in range(levels):
        n = 4 + i
        objs.append(b"<< /T (f%d) /Kids [%d 0 R %d 0 R] >>" % (i, n + 1, n + 1))
    objs.append(b"<< /T (leaf) /FT /Sig >>")
    return _assemble(objs)


def deep_pdf(depth: int = 50_000) -> bytes:
    """An array nested `depth` deep in the catalogue."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R /X " + b"[" * depth + b"]" * depth + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    return _assemble(objs)
