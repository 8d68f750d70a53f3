"""Bad input files: each gets a one-line warning naming the file and reason; the index is untouched."""
import os
import shutil
from pathlib import Path

import pytest

from ingest.pipeline import run_ingest
from ingest.store import open_store
from tests.fixtures_files import make_docx, make_pdf

pytestmark = pytest.mark.integration


def _ids(settings, embedder):
    store = open_store(settings, embedder.name, embedder.dim)
    return (sorted(store.records()), sorted(store.chunks.get(include=[])["ids"]),
            sorted(r[0] for r in store.stored_sentences()), store.counts())


def _big(p: Path):
    line = ("Employment policy sentence number filler text for a very large file. " * 10 + "\n").encode()
    with open(p, "wb") as f:
        for _ in range(50 * 1024 * 1024 // len(line) + 1):
            f.write(line)


def _truncated_pdf(p: Path):
    make_pdf(p, ["Some text that will be cut."])
    p.write_bytes(p.read_bytes()[:120])


def _truncated_docx(p: Path):
    make_docx(p, ["A paragraph."])
    p.write_bytes(p.read_bytes()[:300])


def _loop(p: Path):
    os.symlink(p, p)  # a symlink to itself


CASES = [
    # name, builder, expected reason in the warning
    ("empty.txt", lambda p: p.write_text(""), "file is empty"),
    ("garbage.txt", lambda p: p.write_bytes(os.urandom(4096)), "binary|not valid UTF-8"),
    ("latin1.txt", lambda p: p.write_bytes("d\xe9j\xe0 vu, na\xefve caf\xe9. ".encode("latin-1") * 200),
     "not valid UTF-8"),
    ("huge.txt", _big, r"file is 50 MB, over the 10 MB limit; split it or raise max_file_mb"),
    ("scan.pdf", lambda p: make_pdf(p, None), "PDF has no text layer"),
    ("locked.pdf", lambda p: make_pdf(p, ["secret"], encrypt_password="pw"), "PDF is password-protected"),
    ("truncated.pdf", _truncated_pdf, "PDF is damaged or truncated"),
    ("truncated.docx", _truncated_docx, "DOCX is damaged, truncated or password-protected"),
    ("loop.txt", _loop, "cannot resolve path"),
    ("copy-of-001.txt", lambda p: shutil.copy(p.parent / "001_d5c15e6c1eacf066.txt", p),
     "same content as 001_d5c15e6c1eacf066.txt"),
    ("photo.jpg", lambda p: p.write_bytes(b"\xff\xd8\xff\xe0" + bytes(64)), "unsupported type .jpg"),
]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, embedder):
    from core.settings import Settings

    root = tmp_path_factory.mktemp("badfiles")
    shutil.copytree(Path(__file__).resolve().parent.parent / "corpus", root / "corpus")
    s = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
    run_ingest(s, progress=False, embedder=embedder)
    return s


@pytest.mark.parametrize("name,build,reason", CASES, ids=[c[0] for c in CASES])
def test_bad_file_is_skipped_with_reason_and_index_intact(indexed, embedder, name, build, reason):
    before = _ids(indexed, embedder)
    path = indexed.corpus_dir / name
    build(path)
    try:
        logged = []
        r = run_ingest(indexed, progress=False, embedder=embedder, log=logged.append)
        assert r.skipped == 1 and r.unchanged == 4 and r.added == r.updated == r.removed == 0
        assert len(logged) == 1 and "\n" not in logged[0], logged
        import re

        assert re.search(rf"^warning: skipped {re.escape(name)}: .*({reason})", logged[0]), logged[0]
        assert _ids(indexed, embedder) == before
    finally:
        path.unlink()


def test_file_vanishing_during_the_run(indexed, embedder, monkeypatch):
    """Between listing the folder and reading it, a file disappears (an editor's temp file, say)."""
    import ingest.pipeline as pipeline

    before = _ids(indexed, embedder)
    ghost = indexed.corpus_dir / "ghost.txt"
    ghost.write_text("Here now, gone soon.")
    real_discover = pipeline.discover

    def discover_then_vanish(paths):
        found = real_discover(paths)
        ghost.unlink()  # the race, made deterministic
        return found

    monkeypatch.setattr(pipeline, "discover", discover_then_vanish)
    logged = []
    r = run_ingest(indexed, progress=False, embedder=embedder, log=logged.append)
    assert r.skipped == 1 and logged == ["warning: skipped ghost.txt: file vanished before it could be read"]
    assert _ids(indexed, embedder) == before


def test_unreadable_file(indexed, embedder, monkeypatch):
    """Permission denied. Tests run as root here (root reads anything), so when root, the denial is injected."""
    import ingest.load as load

    before = _ids(indexed, embedder)
    path = indexed.corpus_dir / "private.txt"
    path.write_text("Private notes.")
    path.chmod(0)
    if os.geteuid() == 0:
        real = Path.stat

        def denied(self, *a, **k):
            if self.name == "private.txt" and not k.get("follow_symlinks", True) is False:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *a, **k)

        monkeypatch.setattr(load.Path, "stat", denied)
    try:
        logged = []
        run_ingest(indexed, progress=False, embedder=embedder, log=logged.append)
        assert logged == ["warning: skipped private.txt: permission denied; make the file readable"]
        monkeypatch.undo()
        assert _ids(indexed, embedder) == before
    finally:
        monkeypatch.undo()
        path.unlink()
