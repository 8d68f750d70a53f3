"""The stat-keyed memory of file hashes (ingest/filestat.py): an unchanged re-ingest reads no file, and
every real change is still seen: an in-place edit that keeps size and mtime, another fingerprint, a
file changed within the racy window, a lost or corrupt memory."""
import json
import os
import time

import pytest

import ingest.filestat as filestat
import ingest.pipeline as pipeline
from ingest.filestat import FileStats, stat_key
from ingest.pipeline import run_ingest


def _same_size_edit(path):
    """Change one byte in place, then put the mtime back: only the ctime tells."""
    st = os.stat(path)
    data = bytearray(path.read_bytes())
    i = data.index(b"e")
    data[i:i + 1] = b"E"
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size and os.stat(path).st_mtime_ns == st.st_mtime_ns


@pytest.mark.unit
def test_remembers_by_exact_stat_and_fingerprint(tmp_path, monkeypatch):
    f, memo = tmp_path / "a.txt", tmp_path / "filestat.json"
    f.write_text("some text\n")
    old = time.time_ns() - 60 * 10**9
    os.utime(f, ns=(old, old))
    s = FileStats(memo, "fp1")
    st = stat_key(f)
    assert s.known("a.txt", st) is None
    s.note("a.txt", st, "h1")
    s.save()
    if st[2] >= time.time_ns() - int(filestat.RACY_S * 1e9):  # the ctime is fresh (utime just set it): racy
        assert not memo.exists() or json.loads(memo.read_text())["files"] == {}
        monkeypatch.setattr(filestat, "RACY_S", 0.0)
        s.save()
    assert FileStats(memo, "fp1").known("a.txt", stat_key(f)) == "h1"
    assert FileStats(memo, "fp2").known("a.txt", stat_key(f)) is None  # another fingerprint hashes otherwise
    time.sleep(0.05)  # past a coarse ctime tick (RACY_S is 0 here: the rule that covers this is switched off)
    _same_size_edit(f)
    assert FileStats(memo, "fp1").known("a.txt", stat_key(f)) is None
    assert stat_key(tmp_path / "gone.txt") is None and FileStats(memo, "fp1").known("gone.txt", None) is None
    memo.write_text("{not json")
    assert FileStats(memo, "fp1").old == {}


@pytest.mark.unit
def test_a_file_changed_within_the_racy_window_is_not_remembered(tmp_path):
    f, memo = tmp_path / "a.txt", tmp_path / "filestat.json"
    f.write_text("just written\n")
    s = FileStats(memo, "fp")
    s.note("a.txt", stat_key(f), "h")
    s.save()
    assert FileStats(memo, "fp").known("a.txt", stat_key(f)) is None


@pytest.mark.integration
def test_unchanged_reingest_reads_no_file_and_still_sees_every_change(make_settings, embedder, monkeypatch):
    monkeypatch.setattr(filestat, "RACY_S", 0.0)  # the copied corpus is seconds old
    reads = []
    real = pipeline.read_bytes
    monkeypatch.setattr(pipeline, "read_bytes", lambda p, *a: reads.append(p.name) or real(p, *a))
    s = make_settings()
    assert run_ingest(s, progress=False, embedder=embedder).added == 4
    memo = s.index_dir / "filestat-docqa.json"
    assert len(json.loads(memo.read_text())["files"]) == 4

    r = run_ingest(s, progress=False, embedder=embedder)
    assert (r.unchanged, r.updated, reads) == (4, 0, [])

    target = s.corpus_dir / "002_0a7ea42fb664fc92.txt"
    _same_size_edit(target)
    r = run_ingest(s, progress=False, embedder=embedder)
    assert (r.unchanged, r.updated) == (3, 1) and reads == [target.name]  # its stat moved: read, hashed, changed
    reads.clear()

    memo.write_text("garbage")  # a lost or corrupt memory: every file is read once, nothing else changes
    r = run_ingest(s, progress=False, embedder=embedder)
    assert (r.unchanged, r.updated, len(reads)) == (4, 0, 4)

    # Another fingerprint: the remembered hashes are not used, every document is re-processed.
    r = run_ingest(s.replace(chunk_size=120), progress=False, embedder=embedder)
    assert r.updated == 4
