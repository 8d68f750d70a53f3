"""Builders of small real files (PDF, DOCX, HTML) for loader and reliability tests."""
from __future__ import annotations

from pathlib import Path


def make_pdf(path: Path, lines: list[str] | None, encrypt_password: str | None = None) -> Path:
    """A real one-page PDF; ``lines=None`` gives a page with no text layer (like a scan)."""
    from pypdf import PdfReader, PdfWriter

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    if lines:
        ops = ["BT /F1 12 Tf 72 720 Td 14 TL"] + [f"({esc(line)}) Tj T*" for line in lines] + ["ET"]
    else:
        ops = ["0 0 1 rg 72 600 200 100 re f"]  # a filled rectangle: an image-only page
    stream = "\n".join(ops).encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    if encrypt_password:
        writer = PdfWriter(clone_from=PdfReader(str(path)))
        writer.encrypt(encrypt_password)
        with open(path, "wb") as f:
            writer.write(f)
    return path


def make_docx(path: Path, paragraphs: list[str]) -> Path:
    import docx

    d = docx.Document()
    for p in paragraphs:
        d.add_paragraph(p)
    d.save(str(path))
    return path
