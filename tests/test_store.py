"""Store layout and reads that must scale: paged reads return every record exactly once; each chunk record
carries its sentences (offsets, entities, float16 vectors); an index of the older layout is refused with one
line until `docqa ingest` converts it."""
import numpy as np
import pytest

from core.errors import IndexLayoutError
from ingest.store import get_all, open_store

pytestmark = pytest.mark.integration


def test_get_all_pages_through_every_record(seed_settings, embedder):
    store = open_store(seed_settings, embedder.name, embedder.dim)
    assert store.legacy == [] and "sentences" not in {c.name.split("_")[-1] for c in store.client.list_collections()}
    for col in (store.chunks, store.docs):
        whole = col.get(include=["metadatas"])
        paged = get_all(col, ["metadatas"], page=7)  # many pages, last one partial
        assert len(paged["ids"]) == col.count() == len(set(paged["ids"]))
        assert sorted(paged["ids"]) == sorted(whole["ids"])
        assert len(paged["metadatas"]) == len(paged["ids"])


def test_chunk_records_carry_their_sentences(seed_settings, embedder):
    """What used to be a sentence record is in its chunk: text at its offsets, entities, the vector to f16."""
    from core.text import entities
    from ingest.chunk import chunk_document
    from ingest.pipeline import prepare_document
    from ingest.sentpack import unpack

    store = open_store(seed_settings, embedder.name, embedder.dim)
    rec = next(r for r in store.records().values() if r.source.startswith("001_"))
    doc = prepare_document(seed_settings.corpus_dir / rec.source, seed_settings.corpus_dir,
                           fingerprint=store.fingerprint)
    assert doc.content_hash == rec.content_hash
    chunks, sentences = chunk_document(doc, seed_settings.chunk_size, seed_settings.chunk_overlap,
                                       seed_settings.model_path)
    stored = {sid: (text, meta, vec) for sid, text, meta, vec in store.stored_sentences({"doc_id": rec.doc_id})}
    assert list(stored) == [x.sentence_id for x in sentences]  # each once, in reading order
    want = embedder.encode([x.text for x in sentences])
    for x, ents, ref in zip(sentences, entities([x.text for x in sentences]), want):
        text, meta, vec = stored[x.sentence_id]
        assert text == x.text == doc.text[meta["start"]:meta["end"]]
        assert (meta["index"], meta["chunk_id"]) == (x.index, x.chunk_id)  # under the first chunk holding it
        assert meta["ents"] == "\n".join(f"{label}\t{t}" for label, t in ents)
        assert vec.dtype == np.float32 and abs(float(vec @ ref) - 1.0) < 1e-3
    # Every chunk lists every sentence inside it, the overlap included, and decodes them all.
    got = store.chunks.get(where={"doc_id": rec.doc_id}, include=["documents", "metadatas"])
    for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
        rows = unpack(cid, text, meta)
        assert [r[0] for r in rows] == meta["sentence_ids"].split(",") and rows
        assert all(meta["start"] <= m["start"] < m["end"] <= meta["end"] for _, _, m, _ in rows)


def test_older_layout_is_refused_in_one_line_until_ingest_converts_it(make_settings, embedder, monkeypatch):
    """An index of layout 1 (a `_sentences` collection; fingerprints without layout 2) stops readers with
    one line that says what to do; `docqa ingest` re-processes every document once and readers work again."""
    from ingest import sentpack
    from ingest.pipeline import run_ingest
    from qa.answer import answer

    s = make_settings()
    with monkeypatch.context() as m:
        m.setattr(sentpack, "LAYOUT", 1)  # the fingerprint an older docqa wrote
        run_ingest(s, progress=False, embedder=embedder)
    store = open_store(s, embedder.name, embedder.dim, create=True)
    store.client.create_collection(f"{s.collection}_sentences", embedding_function=None)
    with pytest.raises(IndexLayoutError, match=r"^[^\n]*run `docqa ingest` to convert it[^\n]*$"):
        answer("What did the Hangzhou court rule?", settings=s, embedder=embedder)
    from ingest.dryrun import dry_run

    assert dry_run(s).reasons == ["layout 1 -> 2: would re-store 4 documents"]  # reads the manifest only
    logged = []
    r = run_ingest(s, progress=False, embedder=embedder, log=logged.append)
    assert (r.updated, r.unchanged) == (4, 0)
    assert logged == ["layout 1 -> 2: re-storing 4 documents"]
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    fresh = open_store(s, embedder.name, embedder.dim)
    assert fresh.legacy == [] and fresh.index_fingerprint()["layout"] == 2
    ans = answer("What did the Hangzhou court rule?", settings=s, embedder=embedder, store=fresh)
    assert not ans.refused and ans.citations


def test_generation_stamp_spares_the_chroma_read_and_never_hides_a_change(make_settings, embedder, monkeypatch):
    """A local index keeps its generation token in a stamp file too, written before Chroma's: a warm
    reader checks the file, and asks Chroma only when the file moved, or when the two disagree (a
    writer killed between its two writes), so no change is ever missed."""
    from ingest.pipeline import run_ingest
    from ingest.store import GENERATION_ID, stamp_path

    s = make_settings()
    run_ingest(s, progress=False, embedder=embedder)
    reader = open_store(s, embedder.name, embedder.dim)
    writer = open_store(s, embedder.name, embedder.dim)  # another process's handle on the same index
    reads = []
    real_get = type(reader.meta).get

    def spy(self, ids=None, **kw):
        if ids == [GENERATION_ID]:
            reads.append(1)
        return real_get(self, ids=ids, **kw)

    monkeypatch.setattr(type(reader.meta), "get", spy)
    first = reader.generation()
    assert first and stamp_path(s).read_text() == first
    reads.clear()
    assert [reader.generation() for _ in range(5)] == [first] * 5 and reads == []  # warm: the file only

    writer.bump_generation()
    second = reader.generation()
    assert second != first and reads == [1]  # the file moved: Chroma read once
    assert reader.generation() == second and reads == [1]

    def killed(*a, **kw):
        raise RuntimeError("writer killed")

    monkeypatch.setattr(writer.meta, "upsert", killed)  # the stamp is written, Chroma's token is not
    with pytest.raises(RuntimeError):
        writer.bump_generation()
    assert stamp_path(s).read_text() != second
    reads.clear()
    assert [reader.generation() for _ in range(3)] == [second] * 3 and reads == [1, 1, 1]  # Chroma decides
    monkeypatch.undo()
    writer.bump_generation()  # the next run's bump: the two agree again
    third = reader.generation()
    assert third not in (first, second) and reader.generation() == third
    stamp_path(s).unlink()  # an index written before stamps: Chroma on every call, still right
    assert reader.generation() == third
    assert run_ingest(s, progress=False, embedder=embedder).added == 0  # unchanged; writes the missing stamp
    fourth = reader.generation()
    assert fourth != third and stamp_path(s).read_text() == fourth
    reads.clear()
    assert reader.generation() == fourth and reads == []


def test_chunk_search_is_exact_on_a_small_index_and_older_indexes_are_widened(make_settings, embedder):
    """The chunks collection searches wide enough to return the exact nearest chunks of a small index (Chroma's
    default HNSW search missed 31 of the exact top-40 over these 30 queries, and under 1,000 records it rebuilds
    the graph in every process, so answers changed between restarts); an index created with the default is
    widened by the next writer's open."""
    import chromadb

    from ingest.store import EF_SEARCH

    s = make_settings()
    store = open_store(s, embedder.name, embedder.dim, create=True)
    assert store.chunks.configuration_json["hnsw"]["ef_search"] == EF_SEARCH
    rng = np.random.default_rng(0)
    x = rng.standard_normal((900, embedder.dim)).astype(np.float32)  # random directions: HNSW's hard case
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [f"c{i:04d}" for i in range(len(x))]
    store.chunks.add(ids=ids, embeddings=x.tolist())
    for q in rng.standard_normal((30, embedder.dim)).astype(np.float32):
        got = store.chunks.query(query_embeddings=[q.tolist()], n_results=40)["ids"][0]
        assert set(got) == {ids[i] for i in np.argsort(-(x @ q))[:40]}
    # An older index: the default search width until a writer opens it; a reader leaves it alone.
    store.chunks.modify(configuration={"hnsw": {"ef_search": 100}})
    hnsw = lambda: chromadb.PersistentClient(path=str(s.index_dir / "chroma")).get_collection(  # noqa: E731
        store.chunks.name).configuration_json["hnsw"]["ef_search"]
    open_store(s, embedder.name, embedder.dim, inspect=True)
    assert hnsw() == 100
    open_store(s, embedder.name, embedder.dim, create=True)
    assert hnsw() == EF_SEARCH
