"""ingest.uploads: whatever name or size an upload has, nothing lands outside the corpus folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import InputError
from core.settings import Settings
from ingest.uploads import MAX_STEM, safe_name, save_upload

pytestmark = pytest.mark.unit


@pytest.fixture
def box(tmp_path):
    """A sandbox: the corpus folder inside it, and a snapshot helper of every file in the sandbox."""
    corpus = tmp_path / "box" / "corpus"
    corpus.mkdir(parents=True)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "box" / "index", max_upload_mb=1)

    def files_outside():
        root = tmp_path / "box"
        return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                      if p.is_file() and corpus not in p.parents)

    return settings, corpus, files_outside


EVIL_NAMES = [
    "../../etc/passwd.txt",
    "../secret.txt",
    "..\\..\\windows\\win.ini.txt",
    "/etc/passwd.txt",
    "/tmp/abs.md",
    "C:\\Users\\me\\notes.md",
    "sub/dir/file.txt",
    "nul\x00byte.txt",
    "ctrl\x01\x1b[31mred\x7f.txt",
    "bidi\u202etxt.md",
    "..txt",
    ".hidden.txt",
    "...txt",
    "..",
    " spaced  name .TXT",
    "a" * 5000 + ".txt",
    "é" * 300 + ".md",
]


@pytest.mark.parametrize("name", EVIL_NAMES)
def test_hostile_names_stay_inside_the_corpus(box, name):
    settings, corpus, files_outside = box
    try:
        saved = save_upload(b"Some text about a topic.", name, settings)
    except InputError as e:
        assert "\n" not in str(e)
        assert list(corpus.iterdir()) == []
        assert files_outside() == []
        return
    assert saved.parent == corpus.resolve()
    assert saved.read_bytes() == b"Some text about a topic."
    assert not saved.name.startswith(".")  # ingest skips dot files: a hidden upload would never be indexed
    assert "/" not in saved.name and "\\" not in saved.name and "\x00" not in saved.name
    assert all(ord(ch) >= 32 for ch in saved.name)
    assert len(saved.name.encode()) < 255
    assert files_outside() == []
    assert [p.name for p in corpus.iterdir()] == [saved.name]


def test_sanitised_names_are_readable():
    assert safe_name("../../etc/passwd.txt") == "passwd.txt"
    assert safe_name("C:\\Users\\me\\Report 2024.PDF") == "Report 2024.pdf"
    assert safe_name("..txt") == "upload.txt"
    assert safe_name("nul\x00byte.txt") == "nulbyte.txt"
    assert safe_name("Café notes.md") == "Café notes.md"
    assert len(safe_name("a" * 5000 + ".txt")) == MAX_STEM + 4


@pytest.mark.parametrize("name", ["evil.exe", "script.sh", "page.php", "noext", "archive.tar.gz",
                                  "passwd.txt.exe", "../../x.py", "data.json"])
def test_disallowed_types_are_refused(box, name):
    settings, corpus, files_outside = box
    with pytest.raises(InputError, match="unsupported type"):
        save_upload(b"MZ...", name, settings)
    assert list(corpus.iterdir()) == [] and files_outside() == []


def test_oversize_and_empty_files_are_refused(box, tmp_path):
    settings, corpus, _ = box
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (1024 * 1024 + 1))
    with pytest.raises(InputError, match="over the 1 MB upload limit"):
        save_upload(big, "big.txt", settings)
    with pytest.raises(InputError, match="empty"):
        save_upload(b"", "empty.txt", settings)
    assert list(corpus.iterdir()) == []
    # Exactly at the limit is fine.
    big.write_bytes(b"x" * (1024 * 1024))
    assert save_upload(big, "big.txt", settings).stat().st_size == 1024 * 1024


def test_duplicates_get_a_suffix_never_overwrite(box):
    settings, corpus, _ = box
    first = save_upload(b"one", "notes.txt", settings)
    second = save_upload(b"two", "notes.txt", settings)
    third = save_upload(b"three", "../notes.txt", settings)
    assert [first.name, second.name, third.name] == ["notes.txt", "notes-1.txt", "notes-2.txt"]
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two" and third.read_bytes() == b"three"


def test_symlink_in_corpus_is_not_followed(box, tmp_path):
    settings, corpus, _ = box
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, corpus / "notes.txt")
    saved = save_upload(b"upload", "notes.txt", settings)
    assert saved.name == "notes-1.txt"
    assert victim.read_text() == "precious"


def test_upload_from_a_path_is_copied(box, tmp_path):
    settings, corpus, _ = box
    src = tmp_path / "gradio-cache" / "report.md"
    src.parent.mkdir()
    src.write_text("# Report\nText.", encoding="utf-8")
    saved = save_upload(src, src.name, settings)
    assert saved == corpus.resolve() / "report.md" and saved.read_text(encoding="utf-8") == "# Report\nText."
    assert src.exists()  # the upload's temp file is left to Gradio


def test_missing_source_is_a_clear_error(box, tmp_path):
    settings, corpus, _ = box
    with pytest.raises(InputError, match="cannot read the uploaded file"):
        save_upload(Path(tmp_path / "gone.txt"), "gone.txt", settings)
    assert list(corpus.iterdir()) == []
