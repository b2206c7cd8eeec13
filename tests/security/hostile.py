"""Hostile inputs built by the tests (no binary fixtures): PDFs that stall or crash naive parsers,
zip bombs split across many small-looking entries."""

from __future__ import annotations

from tests.formats.pdfs import assemble


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
    return assemble(objs)


def deep_pdf(depth: int = 50_000) -> bytes:
    """An array nested `depth` deep in the catalogue."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R /X " + b"[" * depth + b"]" * depth + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    return assemble(objs)
