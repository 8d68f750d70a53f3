"""docqa inside stock LlamaIndex: DocqaRetriever and DocqaQueryEngine on the real seed index.

Offsets are checked against what `docqa show FILE` prints (a subprocess), the text every offset
points into. The fusion test joins docqa's retriever over two real indexes.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

QUESTION = "What did the Hangzhou court rule?"
UNIQUE = ("The Quenville Tidal Observatory was opened in 1962 by the oceanographer Miriam Okonjo. "
          "It records the height of the spring tides in the Quenville estuary.")


def show_texts(settings, sources, tmp_path) -> dict[str, str]:
    """source -> the text `docqa show SOURCE` prints (its trailing newline removed)."""
    env = {**os.environ, "DOCQA_INDEX_DIR": str(settings.index_dir), "DOCQA_CORPUS_DIR": str(settings.corpus_dir)}
    out = {}
    for s in sorted(set(sources)):
        r = subprocess.run([sys.executable, "-m", "docqa", "show", s], env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        out[s] = r.stdout[:-1]
    return out


@pytest.mark.integration
def test_retriever_nodes_are_docqa_passages_with_show_offsets(seed_settings, embedder, tmp_path):
    from llama_index.core.schema import NodeWithScore

    from qa.llamaindex import DocqaRetriever
    from qa.retrieve import retrieve

    nodes = DocqaRetriever(seed_settings, k=4, embedder=embedder).retrieve(QUESTION)
    passages = retrieve(QUESTION, seed_settings, k=4, embedder=embedder)
    assert len(nodes) == len(passages) == 4
    assert all(isinstance(n, NodeWithScore) for n in nodes)
    assert [n.node.node_id for n in nodes] == [p.chunk_id for p in passages]  # same hybrid order
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)
    texts = show_texts(seed_settings, [n.node.metadata["source"] for n in nodes], tmp_path)
    for n in nodes:
        m = n.node.metadata
        assert {"source", "title", "start", "end", "chunk_id"} <= set(m)
        assert texts[m["source"]][m["start"]:m["end"]] == n.node.text, m
    assert "Hangzhou" in nodes[0].node.text


@pytest.mark.integration
def test_query_engine_returns_the_cited_answer(seed_settings, embedder, tmp_path):
    from llama_index.core.schema import QueryBundle

    from qa.answer import answer
    from qa.llamaindex import DocqaQueryEngine
    from qa.retrieve import retrieve

    engine = DocqaQueryEngine(seed_settings, embedder=embedder)
    resp = engine.query(QUESTION)
    ans = answer(QUESTION, settings=seed_settings, embedder=embedder)
    assert str(resp) == ans.text and resp.metadata["refused"] is False
    markers = {int(x) for x in re.findall(r"\[(\d+)\]", str(resp))}
    assert markers and sorted(markers) == [n.node.metadata["n"] for n in resp.source_nodes]
    texts = show_texts(seed_settings, [n.node.metadata["source"] for n in resp.source_nodes], tmp_path)
    for n in resp.source_nodes:
        m = n.node.metadata
        assert texts[m["source"]][m["start"]:m["end"]] == n.node.text  # the quote, at its offsets
        at = m["start"] - m["passage_start"]
        assert m["passage"][at:at + len(n.node.text)] == n.node.text  # inside the passage it came from
    assert any("Hangzhou" in n.node.text for n in resp.source_nodes)

    refused = engine.query("What is the boiling point of tungsten in kelvin?")
    assert refused.metadata["refused"] is True and refused.source_nodes == []
    assert refused.metadata["related"]  # the closest passages, flagged as not an answer
    # The engine also exposes its passages, for tools that call retrieve() on a query engine.
    assert [n.node.node_id for n in engine.retrieve(QueryBundle(QUESTION))] == \
        [p.chunk_id for p in retrieve(QUESTION, seed_settings, embedder=embedder)]


@pytest.mark.integration
def test_retriever_inside_a_stock_retriever_query_engine(seed_settings, embedder):
    from llama_index.core import Settings as LISettings
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine

    from qa.llamaindex import DocqaRetriever

    retriever = DocqaRetriever(seed_settings, k=3, embedder=embedder)
    assert type(LISettings.llm).__name__ == "MockLLM"  # nothing defaults to OpenAI
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    resp = engine.query(QUESTION)
    nodes = retriever.retrieve(QUESTION)
    assert [n.node.node_id for n in resp.source_nodes] == [n.node.node_id for n in nodes]
    # MockLLM echoes its prompt: docqa's passages reached the synthesizer, offsets and ids did not.
    prompt = str(resp)
    assert nodes[0].node.text[:200] in prompt and f"source: {nodes[0].node.metadata['source']}" in prompt
    assert "chunk_id" not in prompt and "start:" not in prompt


@pytest.mark.integration
def test_fusion_over_two_docqa_indexes(seed_settings, embedder, make_settings, tmp_path):
    from llama_index.core.retrievers import QueryFusionRetriever

    from ingest.pipeline import run_ingest
    from qa.llamaindex import DocqaRetriever

    corpus = tmp_path / "observatory"
    corpus.mkdir()
    (corpus / "observatory.txt").write_text(UNIQUE, encoding="utf-8")
    other = make_settings(corpus=corpus)
    run_ingest(other, progress=False, embedder=embedder)
    # num_queries=1: no LLM writes extra queries. "simple" fusion orders by docqa's own fused scores,
    # which are comparable across docqa indexes (a chunk first by both dense and BM25 scores 2/3, one
    # found by dense retrieval alone at most 1/3); reciprocal_rerank would tie the two lists' firsts.
    fused = QueryFusionRetriever([DocqaRetriever(seed_settings, k=3, embedder=embedder),
                                  DocqaRetriever(other, k=3, embedder=embedder)],
                                 num_queries=1, mode="simple", similarity_top_k=3, use_async=False)
    top = fused.retrieve("Who opened the Quenville Tidal Observatory?")[0]
    assert top.node.metadata["source"] == "observatory.txt" and "Miriam Okonjo" in top.node.text
    top = fused.retrieve(QUESTION)[0]
    assert top.node.metadata["source"].startswith("00") and "Hangzhou" in top.node.text


@pytest.mark.integration
def test_chroma_vector_store_reads_docqa_chunks(seed_settings):
    """LlamaIndex's own ChromaVectorStore can read (not write) docqa's chunk collection, dense only."""
    from llama_index.core import VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from ingest.store import open_store, read_index_model

    import qa.llamaindex  # noqa: F401  (offline defaults for llama-index)

    store = open_store(seed_settings, *read_index_model(seed_settings))
    embed = HuggingFaceEmbedding(model_name=seed_settings.model_path, device="cpu")
    index = VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=store.chunks), embed_model=embed)
    nodes = index.as_retriever(similarity_top_k=3).retrieve(QUESTION)
    assert len(nodes) == 3
    for n in nodes:
        m = n.node.metadata
        assert store.document_text(m["doc_id"])[m["start"]:m["end"]] == n.node.get_content()
    assert any("Hangzhou" in n.node.get_content() for n in nodes)


@pytest.mark.unit
def test_empty_question_is_a_one_line_error(tmp_path):
    from core.errors import InputError
    from core.settings import Settings
    from qa.llamaindex import DocqaRetriever

    with pytest.raises(InputError, match="empty"):
        DocqaRetriever(Settings(index_dir=tmp_path / "none")).retrieve("   ")
    assert not Path(tmp_path / "none").exists()
