"""The index fingerprint: settings or code that change what is stored re-process the documents, and say why;
`docqa ingest --dry-run` tells what a run would do and writes nothing."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings
from ingest.fingerprint import changes, describe_change, fingerprint
from ingest.pipeline import run_ingest
from ingest.store import FINGERPRINT_ID, STATE_ID, open_store
from tests.test_crash import snapshot

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.unit
def test_describe_change():
    old = fingerprint(Settings(), "m")
    new = fingerprint(Settings(chunk_size=120), "m")
    assert changes(old, new) == ["chunk_size 180 -> 120"]
    assert describe_change(old, new, 4) == "chunk_size 180 -> 120: re-chunking 4 documents"
    assert describe_change(old, new, 1, would=True) == "chunk_size 180 -> 120: would re-chunk 1 document"
    both = fingerprint(Settings(chunk_size=120, chunk_overlap=10), "m")
    assert describe_change(old, both, 2) == "chunk_size 180 -> 120, chunk_overlap 30 -> 10: re-chunking 2 documents"
    assert describe_change({**old, "clean": "0"}, old, 3) == "clean 0 -> 1: re-cleaning 3 documents"
    assert describe_change({**old, "clean": "0"}, both, 3).endswith(": re-processing 3 documents")
    assert describe_change(None, old, 4) == "index built before fingerprints were recorded: re-processing 4 documents once"


def _env(s, **extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), DOCQA_CORPUS_DIR=str(s.corpus_dir), DOCQA_INDEX_DIR=str(s.index_dir),
               DOCQA_CHUNK_SIZE=str(s.chunk_size), DOCQA_CHUNK_OVERLAP=str(s.chunk_overlap), **extra)
    env.pop("DOCQA_FAULT", None)
    return env


def _docqa(s, *args, cwd):
    return subprocess.run([sys.executable, "-m", "docqa", *args], env=_env(s), capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def _status(s, monkeypatch, capsys) -> str:
    """`docqa status` (in process: the command, not the interpreter's start-up, is tested)."""
    from docqa import main

    for k, v in _env(s).items():
        if k.startswith("DOCQA_"):
            monkeypatch.setenv(k, v)
    capsys.readouterr()
    assert main(["status"]) == 0
    return capsys.readouterr().out


def _files_digest(folder: Path) -> dict[str, str]:
    """Every file of the index but Chroma's own, which it rewrites on any open (even `docqa status`)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "chroma" not in p.relative_to(folder).parts}


def _state(s, embedder):
    """The index's content (ids, texts, metadata) and its meta records (generation, writer state, fingerprint)."""
    meta = open_store(s, embedder.name, embedder.dim).meta.get(include=["documents"])
    return snapshot(s, embedder), dict(zip(meta["ids"], meta["documents"]))


@pytest.mark.integration
def test_changing_chunk_size_rechunks_and_says_so(make_settings, embedder, tmp_path, monkeypatch, capsys):
    s = make_settings()
    run_ingest(s, progress=False, embedder=embedder)
    smaller = s.replace(chunk_size=120, chunk_overlap=20)

    # The dry run says what would happen, and leaves the index as it was: every record, the meta
    # records (no generation bump), the BM25 files byte for byte.
    before, files = _state(s, embedder), _files_digest(s.index_dir)
    r = _docqa(smaller, "ingest", "--dry-run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "updated: 4 documents" in r.stdout and "added: 0 documents" in r.stdout
    assert "chunk_size 180 -> 120, chunk_overlap 30 -> 20: would re-chunk 4 documents" in r.stdout
    assert "001_d5c15e6c1eacf066.txt (" in r.stdout
    assert _files_digest(s.index_dir) == files and _state(s, embedder) == before

    r = _docqa(smaller, "ingest", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "chunk_size 180 -> 120, chunk_overlap 30 -> 20: re-chunking 4 documents" in r.stderr
    assert r.stdout.startswith("0 added, 4 updated, 0 removed, 0 unchanged")
    # Exactly what a clean build with the new settings holds: no chunk of the old size is left.
    ref = smaller.replace(index_dir=tmp_path / "ref-index")
    run_ingest(ref, progress=False, embedder=embedder)
    assert snapshot(smaller, embedder) == snapshot(ref, embedder)
    store = open_store(smaller, embedder.name, embedder.dim)
    assert max(m["n_tokens"] for m in store.chunks.get(include=["metadatas"])["metadatas"]) <= 120
    assert store.index_fingerprint() == fingerprint(smaller, embedder.name)

    status = _status(smaller, monkeypatch, capsys)
    assert "fingerprint: model=" in status and "chunk_size=120, chunk_overlap=20" in status
    assert "built with other settings" not in status
    status = _status(s, monkeypatch, capsys)  # the settings went back: status says the index differs
    assert "4 documents were built with other settings than now" in status

    again = run_ingest(smaller, progress=False, embedder=embedder, log=(logged := []).append)
    assert (again.unchanged, again.chunks) == (4, 0) and logged == []


@pytest.mark.integration
def test_index_from_before_fingerprints_is_reprocessed_once(make_settings, embedder):
    """An index written by the code before fingerprints: raw-byte hashes, no fingerprint, no writer state."""
    from ingest.chunk import chunk_document
    from ingest.load import discover
    from ingest.pipeline import prepare_document

    s = make_settings()
    store = open_store(s, embedder.name, embedder.dim, create=True)
    store.fingerprint = None
    items = []
    for path in discover([s.corpus_dir])[0]:
        doc = prepare_document(path, s.corpus_dir)  # content hash = sha256 of the bytes, as it was
        chunks, sents = chunk_document(doc, s.chunk_size, s.chunk_overlap, s.model_path)
        items.append((doc, chunks, embedder.encode([c.text for c in chunks]).tolist(), sents,
                      embedder.encode([x.text for x in sents]).tolist()))
    store.put_documents(items)
    store.meta.delete(ids=[STATE_ID, FINGERPRINT_ID])
    assert store.records() and all(r.fingerprint == "" for r in store.records().values())

    logged = []
    r = run_ingest(s, progress=False, embedder=embedder, log=logged.append)
    assert logged == ["index built before fingerprints were recorded: re-processing 4 documents once"]
    assert (r.updated, r.unchanged) == (4, 0)
    assert all(rec.fingerprint for rec in open_store(s, embedder.name, embedder.dim).records().values())
    logged.clear()
    r = run_ingest(s, progress=False, embedder=embedder, log=logged.append)
    assert (r.unchanged, r.chunks, r.repaired, logged) == (4, 0, 0, [])


@pytest.mark.integration
def test_dry_run_lists_added_updated_removed(make_settings, embedder, tmp_path):
    s = make_settings()
    run_ingest(s, progress=False, embedder=embedder)
    before, files = _state(s, embedder), _files_digest(s.index_dir)
    target = s.corpus_dir / "002_0a7ea42fb664fc92.txt"
    target.write_text(target.read_text(encoding="utf-8") + "\nA closing line about Shenzhen.\n", encoding="utf-8")
    (s.corpus_dir / "000_6004c01da089df79.txt").unlink()
    (s.corpus_dir / "new.md").write_text("# Penguins\n\nEmperor penguins breed in the Antarctic winter.\n")
    r = _docqa(s, "ingest", "--dry-run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-1500:]
    out = r.stdout
    assert "added: 1 document, 1 chunks, 2 sentences" in out and "new.md (1 chunks, 2 sentences)" in out
    assert "updated: 1 document" in out and "002_0a7ea42fb664fc92.txt (" in out and "): changed" in out
    assert "removed: 1 document" in out and "000_6004c01da089df79.txt" in out
    assert "unchanged: 2 documents" in out
    assert _files_digest(s.index_dir) == files and _state(s, embedder) == before
    # The real run does what the dry run said.
    r = run_ingest(s, progress=False, embedder=embedder)
    assert (r.added, r.updated, r.removed, r.unchanged) == (1, 1, 1, 2)


@pytest.mark.integration
def test_dry_run_creates_no_index(tmp_path):
    from ingest.dryrun import dry_run

    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    got = dry_run(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"))
    assert [x[0] for x in got.added] == sorted(p.name for p in corpus.iterdir())
    assert "added: 4 documents" in got.summary()
    assert not (tmp_path / "index").exists()
