"""Hybrid retrieval on the real seed index."""
import pytest

from qa.retrieve import retrieve

pytestmark = pytest.mark.integration


def test_hybrid_finds_the_right_article_and_respects_k(seed_settings, embedder):
    got = retrieve("Hangzhou Intermediate People's Court ruling on AI layoffs", seed_settings, k=3,
                   embedder=embedder)
    assert 1 <= len(got) <= 3
    assert got[0].source.startswith("001_")
    assert "Hangzhou" in " ".join(p.text for p in got)
    assert all(p.dense != 0 or p.lexical > 0 for p in got)
    assert [p.score for p in got] == sorted((p.score for p in got), reverse=True)


def test_exact_term_found_by_lexical_side(seed_settings, embedder):
    got = retrieve("gig-ification", seed_settings, k=5, embedder=embedder)
    assert any("gig-ification" in p.text for p in got)
    assert any(p.lexical > 0 for p in got)


def test_no_near_duplicate_passages(seed_settings, embedder):
    got = retrieve("author bio", seed_settings, k=10, embedder=embedder)
    texts = [p.text for p in got]
    assert len(set(texts)) == len(texts)
    assert len({p.chunk_id for p in got}) == len(got)


def test_followup_history_changes_retrieval(seed_settings, embedder):
    hist = [{"role": "user", "content": "Tell me about the Hangzhou Intermediate People’s Court ruling."}]
    q = "What does it require companies to do?"
    # k=5 (top_k's default): the chunk with the ruling's retraining duty ranks 5th once the earlier turn's
    # names join the query, and nowhere in the top 5 without them.
    with_h = retrieve(q, seed_settings, k=5, history=hist, embedder=embedder)
    assert any("retraining" in p.text for p in with_h)
    assert not any("retraining" in p.text for p in retrieve(q, seed_settings, k=5, embedder=embedder))


def test_lexical_index_follows_reingest(make_settings, embedder):
    from ingest.pipeline import run_ingest

    s = make_settings()
    run_ingest(s, progress=False, embedder=embedder)
    assert not any("zorblax" in p.text for p in retrieve("zorblax", s, k=5, embedder=embedder))
    (s.corpus_dir / "new.txt").write_text("The zorblax festival trains robot welders in Chengdu every spring.")
    run_ingest(s, progress=False, embedder=embedder)
    got = retrieve("zorblax", s, k=5, embedder=embedder)
    assert got and "zorblax" in got[0].text
    (s.corpus_dir / "new.txt").unlink()
    run_ingest(s, progress=False, embedder=embedder)
    assert not any("zorblax" in p.text for p in retrieve("zorblax", s, k=5, embedder=embedder))


def test_warm_query_reads_manifest_only_when_its_generation_changes(make_settings, embedder, monkeypatch):
    from ingest.pipeline import run_ingest
    from ingest.store import GENERATION_ID, Store, stamp_path
    from qa.retrieve import get_resources

    s = make_settings()
    run_ingest(s, progress=False, embedder=embedder)
    retrieve("robot welders", s, k=3, embedder=embedder)
    reads = []
    real = Store.records
    monkeypatch.setattr(Store, "records", lambda self: reads.append(1) or real(self))
    retrieve("robot welders", s, k=3, embedder=embedder)
    retrieve("employment", s, k=3, embedder=embedder)
    assert reads == []  # warm: one generation read, no manifest read
    (s.corpus_dir / "new.txt").write_text("The zorblax festival trains robot welders in Chengdu every spring.")
    run_ingest(s, progress=False, embedder=embedder)
    reads.clear()
    got = retrieve("zorblax", s, k=5, embedder=embedder)
    assert len(reads) == 1 and got and "zorblax" in got[0].text
    # An index written before generations (and their stamp file) existed: the manifest is read on
    # every query, still correct.
    res = get_resources(s, embedder)
    res.store.meta.delete(ids=[GENERATION_ID])
    stamp_path(s).unlink()
    reads.clear()
    assert "zorblax" in retrieve("zorblax", s, k=5, embedder=embedder)[0].text
    retrieve("zorblax", s, k=5, embedder=embedder)
    assert len(reads) >= 2


def test_passages_list_their_sentences_and_reading_by_id_matches_the_chunk_filter(seed_settings, embedder):
    from dataclasses import replace

    from qa.extractive import fetch_candidates
    from qa.retrieve import get_resources

    got = retrieve("Hangzhou court ruling retraining", seed_settings, k=5, embedder=embedder)
    assert got and all(p.sentence_ids for p in got)
    store = get_resources(seed_settings, embedder).store
    by_id = fetch_candidates(store, got)
    by_filter = fetch_candidates(store, [replace(p, sentence_ids=()) for p in got])  # the old-index path
    assert by_id and sorted((c.sentence_id, c.text) for c in by_id) == \
        sorted((c.sentence_id, c.text) for c in by_filter)
    assert {c.chunk_id for c in by_id} <= {p.chunk_id for p in got}
