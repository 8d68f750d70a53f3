"""The plain llama-index pipeline a user would otherwise write, as the benchmark's point of comparison.

SimpleDirectoryReader -> SentenceSplitter -> HuggingFaceEmbedding (the same
local MiniLM model docqa uses) -> ChromaVectorStore (a PersistentClient
collection made with Chroma's defaults) -> VectorStoreIndex -> as_retriever.
Dense retrieval only, no BM25, no answer: its retrieve-only latency is the
bar docqa's full extractive answer is held to. The splitter gets docqa's
chunk size and overlap so both index the same granularity (the default 1024
tokens would be truncated by the model's 256-wordpiece window anyway).
"""
from __future__ import annotations

import time
from pathlib import Path

COLLECTION = "baseline"


def _setup(model_path: str, batch_size: int):
    from core.offline import configure_llama_index, enforce_offline

    enforce_offline()
    configure_llama_index()
    from llama_index.core import Settings as LISettings
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    embed = HuggingFaceEmbedding(model_name=model_path, embed_batch_size=batch_size, device="cpu")
    LISettings.llm = None  # no OpenAI default: this pipeline never calls an LLM
    LISettings.embed_model = embed
    return embed


def _client(persist_dir: Path):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(path=str(persist_dir), settings=ChromaSettings(anonymized_telemetry=False))


def build_baseline(corpus_dir: Path, persist_dir: Path, model_path: str, chunk_size: int, chunk_overlap: int,
                   batch_size: int = 32, vector_cache=None) -> dict:
    """Index ``corpus_dir`` the plain llama-index way. ``vector_cache`` switches on the large-size shortcut.

    With a ``bench.fastindex.VectorCache``, node vectors are the normalised mean
    of their sentences' real vectors (set on the nodes before indexing, which
    llama-index then stores as they are) instead of an encode of each node.
    """
    embed = _setup(model_path, batch_size)
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode
    from llama_index.vector_stores.chroma import ChromaVectorStore

    t0 = time.perf_counter()
    # exclude_hidden=False: the bench keeps its corpora under .docqa/, which the reader would skip.
    docs = SimpleDirectoryReader(str(corpus_dir), required_exts=[".txt", ".md"], recursive=True,
                                 exclude_hidden=False).load_data()
    nodes = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap).get_nodes_from_documents(docs)
    t_split = time.perf_counter() - t0
    if vector_cache is not None:
        vecs = vector_cache.mean_of_sentences([n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes])
        for node, v in zip(nodes, vecs):
            node.embedding = v.tolist()
    collection = _client(persist_dir).get_or_create_collection(COLLECTION)
    storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
    VectorStoreIndex(nodes, storage_context=storage, embed_model=embed, insert_batch_size=2048)
    return {"docs": len(docs), "nodes": len(nodes), "split_s": t_split, "total_s": time.perf_counter() - t0,
            "shortcut": vector_cache is not None}


def open_retriever(persist_dir: Path, model_path: str, k: int, batch_size: int = 32):
    """``index.as_retriever(similarity_top_k=k)`` over an index made by ``build_baseline``."""
    embed = _setup(model_path, batch_size)
    from llama_index.core import VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    collection = _client(persist_dir).get_collection(COLLECTION)
    index = VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=collection), embed_model=embed)
    return index.as_retriever(similarity_top_k=k)
