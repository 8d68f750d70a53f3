"""Hybrid retrieval: dense (Chroma) + BM25, fused with reciprocal rank fusion.

Per process we keep one opened Store per index, its manifest and one loaded BM25
per manifest signature, so a warm query costs one read of the index's generation
token, one query embedding, one Chroma query and one BM25 scoring. Every manifest
write changes the token, and a changed (or missing) token makes the next query
re-read the manifest (``store.records()``): a re-index changes its signature,
which swaps the BM25 index, and only chunks whose (doc_id, content_hash) match
the manifest are returned, so a reader never mixes two versions of a document.
"""
from __future__ import annotations

import dataclasses
import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from core.text import tokenize
from ingest.lexical import manifest_signature
from .models import Passage

# Reciprocal-rank-fusion constant. The usual 60 flattens short lists so much that a chunk ranked
# first by BM25 alone loses to ones ranked mid-list by both; hit@5 on eval/seed_qa.jsonl:
# k=2 0.915, k=5 0.872, k=20 0.851, k=60 0.830.
RRF_K = 2
DUP_JACCARD = 0.8  # chunks sharing this share of their word set are one passage
READ_AHEAD = 2  # records read beyond the k needed, for the near-duplicates that are skipped

_LOCK = threading.Lock()
_STORES: dict = {}
_LEXICAL: dict = {}  # index key -> (signature, bm25, chunk ids, the same as a set)
_MANIFEST: dict = {}  # index key -> (generation token, records, signature)
_QEMB: OrderedDict = OrderedDict()  # (model, text) -> query vector; answer() and eval ask twice


@dataclass
class Resources:
    """What one query needs, consistent with one manifest snapshot."""

    settings: object
    embedder: object
    store: object
    records: dict
    signature: str
    bm25: object  # ingest.lexical.Bm25Scores or None (empty index)
    chunk_ids: list
    stale_hits: int = 0  # chunks the last search skipped as not current: a sign of a re-index in flight
    current_ids: frozenset = frozenset()  # chunk_ids as a set: the current chunks ("" when BM25 is unavailable)

    def doc_freq(self, token: str) -> int:
        """Number of current chunks holding ``token`` (0 when the corpus never uses it)."""
        if self.bm25 is None:
            return 0
        tid = self.bm25.vocab_dict.get(token)
        if tid is None:
            return 0
        indptr = self.bm25.scores["indptr"]
        return int(indptr[tid + 1] - indptr[tid])


def _index_key(settings) -> tuple:
    where = (settings.chroma_host, settings.chroma_port) if settings.chroma_mode == "http" \
        else str(Path(settings.index_dir).resolve())
    return settings.chroma_mode, where, settings.collection


def _open_store(settings, embedder, fresh: bool = False):
    from ingest.store import open_store

    key = _index_key(settings)
    with _LOCK:
        store = None if fresh else _STORES.get(key)
        if store is not None and store.encoder_id != getattr(embedder, "encoder_id", store.encoder_id):
            store = None  # another vector family in this process: open again, so the index's check runs
        if store is None:
            # IndexMissingError, ModelMismatchError (another model or encoder), IndexLayoutError propagate
            store = open_store(settings, embedder.name, embedder.dim, encoder_id=getattr(embedder, "encoder_id", None))
            _STORES[key] = store
        return store


def get_resources(settings, embedder=None, store=None) -> Resources:
    """The embedder, store, manifest and BM25 for one query (cached per process)."""
    from ingest.embed import get_embedder
    from ingest.lexical import load_lexical_index

    if embedder is None:
        embedder = get_embedder(settings)
    own = store is None
    key = _index_key(settings)
    for attempt in range(2):
        if own:
            store = _open_store(settings, embedder, fresh=attempt > 0)
        try:
            records, sig = _manifest(key, store)
            break
        except Exception:
            # A `--rebuild` elsewhere dropped the collections this cached handle points at.
            if not own or attempt:
                raise
    with _LOCK:
        cached = _LEXICAL.get(key)
    if cached is None or cached[0] != sig:
        bm25, ids = load_lexical_index(settings, store, records)
        cached = (sig, bm25, ids, frozenset(ids))
        with _LOCK:
            _LEXICAL[key] = cached
    return Resources(settings, embedder, store, records, sig, cached[1], cached[2], current_ids=cached[3])


def _manifest(key: tuple, store) -> tuple[dict, str]:
    """(records, signature) of the store's manifest, re-read only when its generation token changed."""
    gen = store.generation()
    with _LOCK:
        cached = _MANIFEST.get(key)
    if gen is not None and cached is not None and cached[0] == gen:
        return cached[1], cached[2]
    records = store.records()
    sig = manifest_signature(records)
    with _LOCK:
        _MANIFEST[key] = (gen, records, sig)
    return records, sig


def query_vector(embedder, text: str):
    """The (cached) normalised query embedding of ``text``."""
    key = (getattr(embedder, "model_path", id(embedder)), getattr(embedder, "encoder_id", ""), text)
    with _LOCK:
        vec = _QEMB.get(key)
        if vec is not None:
            _QEMB.move_to_end(key)
            return vec
    vec = embedder.encode_query(text)
    with _LOCK:
        _QEMB[key] = vec
        while len(_QEMB) > 256:
            _QEMB.popitem(last=False)
    return vec


def _lexical(res: Resources, query: str, n: int) -> list[tuple[str, float]]:
    import numpy as np

    if res.bm25 is None:
        return []
    vocab = res.bm25.vocab_dict
    ids = [vocab[t] for t in tokenize(query) if t in vocab]
    if not ids:
        return []
    scores = res.bm25.get_scores_from_ids(ids)
    n = min(n, len(scores))
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.argsort(-scores[top])]
    return [(res.chunk_ids[i], float(scores[i])) for i in top if scores[i] > 0 and i < len(res.chunk_ids)]


def _current(res: Resources, meta: dict | None) -> bool:
    if not meta:
        return False
    rec = res.records.get(meta.get("doc_id"))
    return rec is not None and rec.content_hash == meta.get("content_hash")


@functools.lru_cache(maxsize=4096)
def _word_set(text: str) -> frozenset:
    # A chunk's words for the near-duplicate test; the same chunks come back for question after question.
    return frozenset(tokenize(text))


def _near_duplicate(a: frozenset, b: frozenset) -> bool:
    shared = len(a & b)  # |a | b| from the sizes: building the union cost more than the rest of the test
    return shared >= DUP_JACCARD * max(1, len(a) + len(b) - shared)


def search(query: str, res: Resources, k: int) -> list[Passage]:
    """Top-``k`` current passages for ``query`` (already rewritten for follow-ups).

    The dense query asks Chroma for ids and distances only (reading 40 records' metadata cost ~4.5 ms of a
    6 ms query at 100k chunks): a hit is current when the BM25 version of this manifest lists it (its chunk
    ids are exactly the current ones). Only the fused top passages' records are read, by id, and they
    carry their sentences for ``extractive.fetch_candidates``.
    """
    import numpy as np

    res.stale_hits = 0
    if not res.records:
        return []
    qvec = query_vector(res.embedder, query)
    n = max(4 * k, 20)
    current = res.current_ids
    dense: dict[str, float] = {}  # chunk id -> cosine, for current dense hits
    dense_rank: list[str] = []
    count = len(res.chunk_ids) or res.store.chunks.count()
    if count:
        got = res.store.chunks.query(query_embeddings=[np.asarray(qvec, dtype="float32").tolist()],
                                     n_results=min(n, count),
                                     include=["distances"] if current else ["metadatas", "distances"])
        metas = got["metadatas"][0] if not current else [None] * len(got["ids"][0])
        for cid, meta, dist in zip(got["ids"][0], metas, got["distances"][0]):
            if (cid in current) if current else _current(res, meta):
                dense[cid] = 1.0 - float(dist)
                dense_rank.append(cid)
            else:
                res.stale_hits += 1
    lex = _lexical(res, query, n)
    fused: dict[str, float] = {}
    for rank, cid in enumerate(dense_rank):
        fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
    for rank, (cid, score) in enumerate(lex):
        fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
    order = sorted(fused, key=lambda c: -fused[c])[: 3 * k]
    lexical = dict(lex)
    out: list[Passage] = []
    kept_words: list[set] = []
    recs: dict = {}
    for i, cid in enumerate(order):
        if cid not in recs:  # the next few records in one read by id: most answers need the first k or so
            recs.update(res.store.chunk_records([c for c in order[i:i + k + READ_AHEAD] if c not in recs]))
        rec = recs.get(cid)
        if rec is None or not _current(res, rec[1]):
            continue  # stale BM25 entry, or a chunk of a replaced document version
        text, m = rec
        words = _word_set(text)
        if any(_near_duplicate(words, w) for w in kept_words):
            continue
        kept_words.append(words)
        sids = tuple(x for x in str(m.get("sentence_ids") or "").split(",") if x)
        out.append(Passage(m["doc_id"], m.get("source", ""), m.get("title", ""), text, int(m["start"]),
                           int(m["end"]), int(m.get("index", 0)), chunk_id=cid, score=fused[cid],
                           dense=dense.get(cid, 0.0), lexical=lexical.get(cid, 0.0), sentence_ids=sids))
        if len(out) >= k:
            break
    lexical_only = [p.chunk_id for p in out if p.chunk_id not in dense]
    if lexical_only:  # their cosine to the query, from their stored vectors
        got = res.store.chunks.get(ids=lexical_only, include=["embeddings"])
        cos = {cid: float(np.dot(np.asarray(emb), qvec)) for cid, emb in zip(got["ids"], got["embeddings"])}
        out = [dataclasses.replace(p, dense=cos.get(p.chunk_id, 0.0)) if p.chunk_id in cos else p for p in out]
    return out


def retrieve(question: str, settings, k: int | None = None, history: list[dict] | None = None,
             embedder=None, store=None) -> list[Passage]:
    """The top-``k`` passages an answer to ``question`` draws on: hybrid (dense + BM25, RRF-fused,
    near-duplicates collapsed), then re-ordered by their best sentence (``qa.answer.gather``).

    With ``history``, a follow-up question is first rewritten from the earlier
    turns (``qa.followup.rewrite``), so "that ruling" retrieves as if named.
    """
    from .answer import clean_question, gather

    q, _ = clean_question(question)
    return gather(q, history, settings, "extractive", k or settings.top_k, embedder, store).passages
