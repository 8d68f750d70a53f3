"""Loaders for every supported format, and the reasons given for files that can't be read."""
import os

import pytest

from ingest.load import LoadError, discover, load_file
from tests.fixtures_files import make_docx, make_pdf

pytestmark = pytest.mark.unit


def test_txt_md_html_pdf_docx(tmp_path):
    (tmp_path / "a.txt").write_text("Plain text about Hangzhou.", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Title\n\nMarkdown body.", encoding="utf-8")
    (tmp_path / "c.html").write_text(
        "<html><head><title>Page T</title><script>var x=1;</script></head><body><nav>Home | About</nav>"
        "<h1>Heading</h1><p>First &amp; only paragraph.</p><ul><li>item one</li></ul>"
        "<footer>Copyright</footer></body></html>", encoding="utf-8")
    make_pdf(tmp_path / "d.pdf", ["Reskilling programs in Jiangsu.", "Second line (with parens)."])
    make_docx(tmp_path / "e.docx", ["Docx paragraph one.", "Docx paragraph two."])
    assert load_file(tmp_path / "a.txt")[0] == "Plain text about Hangzhou."
    assert "Markdown body." in load_file(tmp_path / "b.md")[0]
    html = load_file(tmp_path / "c.html")[0]
    assert html.splitlines()[0] == "Page T"
    assert "First & only paragraph." in html and "- item one" in html
    assert "var x" not in html and "Home | About" not in html and "Copyright" not in html
    pdf = load_file(tmp_path / "d.pdf")[0]
    assert "Reskilling programs in Jiangsu." in pdf and "(with parens)" in pdf
    assert load_file(tmp_path / "e.docx")[0] == "Docx paragraph one.\nDocx paragraph two."


@pytest.mark.parametrize("name,content,reason", [
    ("empty.txt", b"", "file is empty"),
    ("blank.txt", b"   \n\n ", "file is empty"),
    ("bin.txt", bytes(range(256)) * 20, "looks binary"),
    ("latin.txt", "caf\xe9 cr\xe8me br\xfbl\xe9e ".encode("latin-1") * 50, "not valid UTF-8"),
    ("trunc.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", "PDF is damaged or truncated"),
    ("trunc.docx", b"PK\x03\x04garbage", "DOCX is damaged"),
])
def test_bad_files_give_a_reason(tmp_path, name, content, reason):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load_file(p)


def test_pdf_without_text_layer_and_encrypted(tmp_path):
    with pytest.raises(LoadError, match="no text layer"):
        load_file(make_pdf(tmp_path / "scan.pdf", None))
    with pytest.raises(LoadError, match="password-protected"):
        load_file(make_pdf(tmp_path / "locked.pdf", ["secret"], encrypt_password="pw"))


def test_invalid_utf8_in_mostly_good_text_is_kept(tmp_path):
    p = tmp_path / "mixed.txt"
    p.write_bytes("Good text about employment policy. ".encode() * 20 + b"\xff\xfe" + b" more good text.")
    text, _ = load_file(p)
    assert "more good text." in text and "\ufffd" not in text


def test_discover_skips_unknown_and_survives_symlink_loop(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.exe").write_bytes(b"MZ")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.md").write_text("y")
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    os.symlink(tmp_path / "nowhere.txt", tmp_path / "dangling.txt")
    files, warnings = discover([tmp_path])
    assert [f.name for f in files] == ["a.txt", "c.md"]
    assert any("b.exe: unsupported type .exe" in w for w in warnings)
    assert any("dangling.txt" in w for w in warnings)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_permissions(tmp_path):
    p = tmp_path / "secret.txt"
    p.write_text("x")
    p.chmod(0)
    with pytest.raises(LoadError, match="permission denied"):
        load_file(p)
