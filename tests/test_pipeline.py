"""Incremental ingestion against a real Chroma with the real model."""
import shutil

import pytest

from core.errors import ModelMismatchError
from ingest.pipeline import run_ingest
from ingest.store import open_store

pytestmark = pytest.mark.integration


def _snapshot(settings, embedder):
    store = open_store(settings, embedder.name, embedder.dim)
    recs = store.records()
    chunks = store.chunks.get(include=["documents", "metadatas"])
    return (
        {r.source: r.content_hash for r in recs.values()},
        dict(zip(chunks["ids"], chunks["documents"])),
        {r[0] for r in store.stored_sentences()},
        store,
    )


def test_add_change_delete_noop(make_settings, embedder):
    s = make_settings()
    r = run_ingest(s, progress=False, embedder=embedder)
    assert (r.added, r.updated, r.removed, r.unchanged) == (4, 0, 0, 0)
    assert r.chunks == r.total_chunks > 20 and r.sentences > 100
    docs, chunks, sents, store = _snapshot(s, embedder)
    assert len(docs) == 4
    # Every stored chunk's text is the cleaned text at its offsets.
    got = store.chunks.get(include=["documents", "metadatas"])
    for text, meta in zip(got["documents"], got["metadatas"]):
        full = store.document_text(meta["doc_id"])
        assert full[meta["start"]:meta["end"]] == text

    # No-op: nothing embedded, nothing changed.
    r = run_ingest(s, progress=False, embedder=embedder)
    assert (r.added, r.updated, r.removed, r.unchanged, r.chunks) == (0, 0, 0, 4, 0)
    assert "nothing to embed" in r.summary()
    assert r.total_chunks == store.chunks.count() == len(chunks)  # from the manifest, without a count
    assert _snapshot(s, embedder)[:3] == (docs, chunks, sents)

    # Change one file: only its chunks are replaced.
    target = s.corpus_dir / "002_0a7ea42fb664fc92.txt"
    target.write_text(target.read_text(encoding="utf-8") + "\nA new closing line about Shenzhen robots.\n",
                      encoding="utf-8")
    r = run_ingest(s, progress=False, embedder=embedder)
    assert (r.added, r.updated, r.removed, r.unchanged) == (0, 1, 0, 3)
    docs2, chunks2, sents2, store = _snapshot(s, embedder)
    old_002 = {cid for cid, t in chunks.items() if cid not in chunks2}
    assert old_002, "old chunks of the changed file must go"
    assert any("Shenzhen robots" in t for t in chunks2.values())
    meta = store.chunks.get(ids=list(chunks2), include=["metadatas"])["metadatas"]
    by_source = {}
    for m in meta:
        by_source.setdefault(m["source"], set()).add(m["content_hash"])
    assert all(len(h) == 1 for h in by_source.values()), "a document has chunks of two versions"
    unchanged_ids = {cid for cid in chunks if cid in chunks2}
    assert len(unchanged_ids) == len(chunks) - len(old_002)

    # Add a new file and delete another.
    (s.corpus_dir / "new.md").write_text("# Penguins\n\nEmperor penguins breed in the Antarctic winter.\n",
                                         encoding="utf-8")
    (s.corpus_dir / "000_6004c01da089df79.txt").unlink()
    r = run_ingest(s, progress=False, embedder=embedder)
    assert (r.added, r.updated, r.removed, r.unchanged) == (1, 0, 1, 3)
    docs3, chunks3, _, store = _snapshot(s, embedder)
    assert set(docs3) == {"001_d5c15e6c1eacf066.txt", "002_0a7ea42fb664fc92.txt", "003_9069547e2e577a36.txt",
                          "new.md"}
    metas = store.chunks.get(include=["metadatas"])["metadatas"]
    assert not [m for m in metas if m["source"] == "000_6004c01da089df79.txt"]
    assert store.stored_sentences({"source": "000_6004c01da089df79.txt"}) == []


def test_rebuild_starts_clean_and_matches(make_settings, embedder):
    s = make_settings()
    run_ingest(s, progress=False, embedder=embedder)
    before = _snapshot(s, embedder)[:3]
    r = run_ingest(s, rebuild=True, progress=False, embedder=embedder)
    assert r.added == 4
    assert _snapshot(s, embedder)[:3] == before


def test_interrupted_write_is_repaired(make_settings, embedder):
    """Half-written new version (chunks added, manifest not switched) is swept on the next run."""
    from ingest.chunk import chunk_document
    from ingest.pipeline import prepare_document

    s = make_settings()
    run_ingest(s, progress=False, embedder=embedder)
    clean = _snapshot(s, embedder)[:3]
    store = open_store(s, embedder.name, embedder.dim)
    store.begin_write()  # what the killed writer did before its first write
    path = s.corpus_dir / "001_d5c15e6c1eacf066.txt"
    original = path.read_text(encoding="utf-8")
    path.write_text(original + "\nAn extra paragraph that never finished indexing.\n", encoding="utf-8")
    doc = prepare_document(path, s.corpus_dir, fingerprint=store.fingerprint)
    chunks, _ = chunk_document(doc, s.chunk_size, s.chunk_overlap, s.model_path)
    half = chunks[: len(chunks) // 2]
    store.chunks.upsert(ids=[c.chunk_id for c in half], embeddings=embedder.encode([c.text for c in half]).tolist(),
                        documents=[c.text for c in half],
                        metadatas=[{"doc_id": c.doc_id, "content_hash": doc.content_hash, "source": c.source,
                                    "title": c.title, "start": c.start, "end": c.end, "index": c.index,
                                    "n_tokens": c.n_tokens} for c in half])
    # The "crash": the file is restored and the run that wrote `half` never finished.
    path.write_text(original, encoding="utf-8")
    r = run_ingest(s, progress=False, embedder=embedder)
    assert r.repaired == len(half)
    assert _snapshot(s, embedder)[:3] == clean


def test_model_mismatch_is_a_clear_error(make_settings, embedder):
    s = make_settings()
    run_ingest(s, progress=False, embedder=embedder)
    with pytest.raises(ModelMismatchError, match=r"docqa ingest --rebuild"):
        open_store(s, "some-other-model", 768)
    # Opening with another model through ingest fails the same way and leaves the index intact.
    other = shutil.copytree(s.model_path, s.index_dir.parent / "other-model")
    (other / "1_Pooling" / "config.json").write_text('{"word_embedding_dimension": 768}')
    with pytest.raises(ModelMismatchError):
        run_ingest(s.replace(embed_model=str(other)), progress=False)
    assert len(_snapshot(s, embedder)[0]) == 4


def test_unknown_and_unreadable_files_are_skipped_with_a_warning(make_settings, embedder):
    s = make_settings()
    (s.corpus_dir / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (s.corpus_dir / "empty.txt").write_text("")
    (s.corpus_dir / "garbage.txt").write_bytes(bytes(range(256)) * 50)
    logged = []
    r = run_ingest(s, progress=False, embedder=embedder, log=logged.append)
    assert r.added == 4 and r.skipped == 3
    text = "\n".join(logged)
    assert "image.png: unsupported type .png" in text
    assert "empty.txt: file is empty" in text
    assert "garbage.txt: looks binary" in text
    assert all(line.count("\n") == 0 for line in logged)
