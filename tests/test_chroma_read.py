"""The read-only Chroma view (ingest/chroma_read.py): Chroma's Rust core without its Python client must read
exactly what the client reads, refuse writes, and spare a one-shot `docqa ask` the chromadb import."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import IndexMissingError
from ingest.chroma_read import ReadClient, ReadClientUnavailable, ReadOnlyError
from ingest.store import open_store

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ["Which court ruled on AI layoffs?", "How does China balance AI and jobs?",
             "What happened to youth unemployment?", "zebra migration patterns in Kenya"]


def test_reads_match_the_python_client_record_for_record(seed_settings, embedder):
    full = open_store(seed_settings, embedder.name, embedder.dim, encoder_id=embedder.encoder_id)
    light = open_store(seed_settings, embedder.name, embedder.dim, encoder_id=embedder.encoder_id, read_only=True)
    assert isinstance(light.client, ReadClient) and not isinstance(full.client, ReadClient)
    assert light.records() == full.records() and light.generation() == full.generation()
    assert light.chunks.metadata == full.chunks.metadata and light.chunks.count() == full.chunks.count()
    for a, b in ((light.chunks, full.chunks), (light.docs, full.docs)):
        want = b.get(include=["documents", "metadatas", "embeddings"])
        got = a.get(include=["documents", "metadatas", "embeddings"])
        assert got["ids"] == want["ids"] and got["documents"] == want["documents"]
        assert got["metadatas"] == want["metadatas"] and np.array_equal(got["embeddings"], want["embeddings"])
        page = a.get(include=["metadatas"], limit=5, offset=3)
        assert page["ids"] == b.get(include=["metadatas"], limit=5, offset=3)["ids"] and len(page["ids"]) <= 5
    doc = next(iter(full.records()))
    assert light.stored_sentences({"doc_id": doc})[0][:3] == full.stored_sentences({"doc_id": doc})[0][:3]
    ids = full.chunks.get(include=[])["ids"][:4]
    assert light.chunk_records(ids) == full.chunk_records(ids)
    for q in QUESTIONS:
        vec = [np.asarray(embedder.encode_query(q), dtype="float32").tolist()]
        want = full.chunks.query(query_embeddings=vec, n_results=12, include=["metadatas", "distances"])
        got = light.chunks.query(query_embeddings=vec, n_results=12, include=["metadatas", "distances"])
        assert got["ids"] == want["ids"] and got["distances"] == want["distances"], q
        assert got["metadatas"] == want["metadatas"]


def test_answers_are_the_same_through_either_client(seed_settings, embedder):
    from qa.answer import answer

    light = open_store(seed_settings, embedder.name, embedder.dim, encoder_id=embedder.encoder_id, read_only=True)
    full = open_store(seed_settings, embedder.name, embedder.dim, encoder_id=embedder.encoder_id)
    for q in QUESTIONS:
        a = answer(q, settings=seed_settings, embedder=embedder, store=light)
        b = answer(q, settings=seed_settings, embedder=embedder, store=full)
        assert (a.text, a.refused, a.citations) == (b.text, b.refused, b.citations), q


def test_writes_are_refused_and_a_missing_database_is_no_index(seed_settings, embedder, make_settings):
    light = open_store(seed_settings, embedder.name, embedder.dim, encoder_id=embedder.encoder_id, read_only=True)
    before = light.chunks.count()
    with pytest.raises(ReadOnlyError):
        light.chunks.upsert(ids=["x"], embeddings=[[0.0] * embedder.dim], documents=["x"])
    with pytest.raises(ReadOnlyError):
        light.client.delete_collection(light.chunks.name)
    assert light.chunks.count() == before
    empty = make_settings()
    with pytest.raises(ReadClientUnavailable, match="no Chroma database"):
        ReadClient(Path(empty.index_dir) / "chroma")
    with pytest.raises(IndexMissingError, match="docqa ingest"):  # the usual client's message
        open_store(empty, embedder.name, embedder.dim, read_only=True)
    assert not (Path(empty.index_dir) / "chroma").exists()  # a reader creates nothing


def test_a_one_shot_ask_never_imports_chromadb(seed_settings):
    """The in-process `docqa ask` path answers through the bindings alone (the ~1.3 s import it spares)."""
    probe = (f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); import docqa; "
             f"from core.settings import load_settings; s = load_settings({str(seed_settings_toml(seed_settings))!r}); "
             "r = docqa.ask_reply({'question': 'Which court ruled on AI layoffs?', 'json': True}, s, read_only=True); "
             "print(json.dumps([r['rc'], json.loads(r['out'])['refused'], "
             "sorted(m for m in sys.modules if m == 'chromadb' or m.startswith('chromadb.'))]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [0, False, []]


def seed_settings_toml(settings) -> Path:
    path = Path(settings.index_dir).parent / "probe.toml"
    path.write_text(f'corpus_dir = "{settings.corpus_dir}"\nindex_dir = "{settings.index_dir}"\n')
    return path


def test_one_shot_asks_during_a_reindex_see_old_or_new_never_half(make_settings, embedder):
    """Each ask opens its own read-only view (as a fresh `docqa ask` process does) while a writer re-indexes
    the document it quotes: no errors, and every quote is exact in some complete version of its document."""
    import threading

    import docqa
    from ingest.pipeline import run_ingest

    s = make_settings()
    run_ingest(s, progress=False, embedder=embedder)
    target = next(p for p in sorted(s.corpus_dir.iterdir()) if p.name.startswith("001_"))
    original = target.read_bytes()

    def texts():
        store = open_store(s, embedder.name, embedder.dim)
        return {r.source: store.document_text(r.doc_id) for r in store.records().values()}

    versions, replies, errors, stop = [texts()], [], [], threading.Event()

    def ask_loop():
        while not stop.is_set():
            try:
                r = docqa.ask_reply({"question": "Which court ruled on AI layoffs?", "json": True}, s, read_only=True)
                replies.append(r)
            except Exception as e:  # noqa: BLE001 - any error while the index changes is a failure
                errors.append(repr(e))

    t = threading.Thread(target=ask_loop)
    t.start()
    try:
        for round_ in range(2):
            target.write_bytes(original + f"\n\nClosing paragraph {round_} on retraining for AI jobs.\n".encode())
            run_ingest(s, progress=False, embedder=embedder)
            versions.append(texts())
            target.write_bytes(original)
            run_ingest(s, progress=False, embedder=embedder)
            versions.append(texts())
    finally:
        stop.set()
        t.join(timeout=120)
    assert not errors, errors[:3]
    assert len(replies) >= 3 and all(r["rc"] == 0 for r in replies), [r["err"] for r in replies if r["rc"]][:3]
    for r in replies:
        ans = json.loads(r["out"])
        assert not ans["refused"]
        for c in ans["citations"]:
            assert any(v.get(c["source"], "")[c["start"]:c["end"]] == c["quote"] for v in versions), c


@pytest.mark.integration
def test_a_one_shot_ask_without_an_index_says_so_and_creates_nothing(tmp_path):
    """The CLI's one-shot ask (which leaves by os._exit once it has printed): the one-line error on stderr,
    exit status 2, no folder created, and a piped stdout that held nothing unflushed."""
    env = dict(os.environ, DOCQA_CORPUS_DIR=str(tmp_path / "docs"), DOCQA_INDEX_DIR=str(tmp_path / "index"),
               DOCQA_ASK_DAEMON_IDLE_S="0")
    p = subprocess.run([sys.executable, "-m", "docqa", "ask", "What is this about?"], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip() == "error: no index yet: run `docqa ingest` first (or `make run`)"
    assert not (tmp_path / "index").exists()
