"""docqa inside LlamaIndex: a retriever (hybrid dense + BM25 passages) and a query engine (cited answers).

    from qa.llamaindex import DocqaRetriever, DocqaQueryEngine
    nodes = DocqaRetriever(k=5).retrieve("What did the Hangzhou court rule?")
    response = DocqaQueryEngine().query("What did the Hangzhou court rule?")

Both plug into stock LlamaIndex (``RetrieverQueryEngine.from_args(DocqaRetriever(), llm=...)``,
``QueryFusionRetriever``, routers, agents' query-engine tools). Node offsets (``start``, ``end``)
point into the cleaned text ``docqa show FILE`` prints, so ``text[start:end] == node.text``.

Unlike the rest of docqa this module imports llama_index at import time: subclassing its base
classes needs them, and only LlamaIndex users import this module (the CLI and UI never do).
"""
from __future__ import annotations

from core.offline import configure_llama_index, enforce_offline

enforce_offline()  # before llama_index (and tiktoken, which it loads) are imported

from llama_index.core import Settings as _LISettings  # noqa: E402
from llama_index.core.base.base_query_engine import BaseQueryEngine  # noqa: E402
from llama_index.core.base.response.schema import Response  # noqa: E402
from llama_index.core.retrievers import BaseRetriever  # noqa: E402
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode  # noqa: E402

# Metadata an LLM prompt need not see (offsets and ids): a synthesizer shows title and source only.
HIDDEN_FROM_LLM = ["start", "end", "chunk_id", "doc_id", "n", "passage", "passage_start", "kind"]


def _offline_defaults() -> None:
    """Keep LlamaIndex from defaulting to OpenAI, unless the caller already chose an LLM or embedder."""
    if getattr(_LISettings, "_llm", None) is None and getattr(_LISettings, "_embed_model", None) is None:
        configure_llama_index()


def _settings(settings):
    if settings is None:
        from core.settings import load_settings

        settings = load_settings()
    return settings


def _node(node_id: str, text: str, metadata: dict) -> TextNode:
    return TextNode(id_=node_id, text=text, metadata=metadata, excluded_llm_metadata_keys=HIDDEN_FROM_LLM,
                    excluded_embed_metadata_keys=HIDDEN_FROM_LLM)


def passage_node(p) -> NodeWithScore:
    """A ``qa.models.Passage`` as a scored LlamaIndex node (text = the passage, offsets in metadata)."""
    meta = {"source": p.source, "title": p.title, "start": p.start, "end": p.end, "chunk_id": p.chunk_id,
            "doc_id": p.doc_id, "kind": "passage"}
    return NodeWithScore(node=_node(p.chunk_id, p.text, meta), score=float(p.score))


def citation_node(c) -> NodeWithScore:
    """A ``qa.models.Citation`` as a node: text = the quote; the passage around it in metadata."""
    meta = {"n": c.n, "source": c.source, "title": c.title, "start": c.start, "end": c.end,
            "chunk_id": c.chunk_id, "passage": c.context, "passage_start": c.context_start, "kind": "citation"}
    return NodeWithScore(node=_node(f"{c.chunk_id or c.source}:{c.start}-{c.end}", c.quote, meta),
                         score=float(c.score))


class DocqaRetriever(BaseRetriever):
    """docqa's hybrid retrieval (dense + BM25, RRF-fused, near-duplicates collapsed) as a LlamaIndex retriever.

    ``settings`` None means ``load_settings()``; ``k`` None means ``settings.top_k``. Each node's
    text is a passage; metadata: source, title, start, end (offsets into the cleaned text),
    chunk_id, doc_id. Scores are the fused RRF scores (higher is better).
    """

    def __init__(self, settings=None, k: int | None = None, embedder=None, **kwargs):
        _offline_defaults()
        self.settings, self.k, self.embedder = _settings(settings), k, embedder
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        from qa.answer import clean_question
        from qa.retrieve import retrieve

        q, _ = clean_question(query_bundle.query_str)  # InputError for an empty question, like answer()
        passages = retrieve(q, self.settings, k=self.k, embedder=self.embedder)
        return [passage_node(p) for p in passages]


class DocqaQueryEngine(BaseQueryEngine):
    """``qa.answer.answer`` as a LlamaIndex query engine.

    ``query(q)`` returns a ``Response`` whose text is docqa's cited answer (or its refusal) and
    whose ``source_nodes`` are one node per citation [n]: the quote as text, with source, title,
    start, end, n and the surrounding passage in metadata. ``response.metadata`` holds refused,
    mode, note, the citations as JSON and, for a refusal, the related passages.
    """

    def __init__(self, settings=None, k: int | None = None, mode: str | None = None, embedder=None,
                 callback_manager=None):
        _offline_defaults()
        self.settings, self.k, self.mode, self.embedder = _settings(settings), k, mode, embedder
        super().__init__(callback_manager=callback_manager)

    def _get_prompt_modules(self) -> dict:
        return {}

    def retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """The passages the answer would be drawn from."""
        return DocqaRetriever(self.settings, self.k, self.embedder).retrieve(query_bundle)

    def _query(self, query_bundle: QueryBundle) -> Response:
        from qa.answer import answer

        ans = answer(query_bundle.query_str, settings=self.settings, mode=self.mode, k=self.k,
                     embedder=self.embedder)
        return Response(response=ans.text, source_nodes=[citation_node(c) for c in ans.citations],
                        metadata={"refused": ans.refused, "mode": ans.mode, "note": ans.note,
                                  "citations": [c.to_json() for c in ans.citations],
                                  "related": [c.to_json() for c in ans.related]})

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        import asyncio

        # answer() is synchronous and CPU-bound: run it off the event loop.
        return await asyncio.to_thread(self._query, query_bundle)
