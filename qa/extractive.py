"""Extractive answers: the few stored sentences that best answer the question.

Candidates are the sentences of the retrieved chunks only (fetched with the
embeddings stored at ingest, no re-embedding). Each is scored by cosine to the
query plus IDF-weighted coverage of the question's words; a greedy MMR pass
avoids saying the same thing twice; the picks are ordered by document, then
position. Every pick is a verbatim span of the cleaned text, so its citation
is correct by construction.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ingest.lexical import tokenize

from .support import looks_like_instruction, stem

W_COS, W_LEX = 0.55, 0.45
MMR_LAMBDA = 0.75
REL_CUTOFF = 0.8  # a pick must score at least this share of the best one
SAID_PENALTY = 0.15
HEADING_PENALTY = 0.25
QUESTION_PENALTY = 0.15
MAX_ITEMS = 8  # bullet items quoted after a "... include:" lead-in
_BULLET = re.compile(r"^\s*(?:[-•*▪–]|\d{1,2}[.)])\s+")
_END = re.compile(r"[.!?:;\"”’)…]\s*$")
EXTRA_SCALE = 0.05
REF_SCALE = 0.3
_DEMONSTRATIVE_NOUN = re.compile(r"\b(?:that|this|these|those|the same)\s+(\w+)", re.I)
MIN_WORDS = 4  # shorter "sentences" are headings or fragments


@dataclass
class Candidate:
    """A stored sentence of a retrieved chunk, with its scores for this question."""

    sentence_id: str
    chunk_id: str
    doc_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    vec: object
    passage_rank: int
    cos: float = 0.0
    coverage: float = 0.0
    score: float = 0.0


def fetch_candidates(store, passages) -> list[Candidate]:
    """Sentences of the retrieved chunks with their stored embeddings (one Chroma read)."""
    import numpy as np

    if not passages:
        return []
    rank = {p.chunk_id: i for i, p in enumerate(passages)}
    include = ["embeddings", "documents", "metadatas"]
    if all(p.sentence_ids for p in passages):  # by id: fast at any index size
        got = store.sentences.get(ids=list(dict.fromkeys(s for p in passages for s in p.sentence_ids)),
                                  include=include)
    else:  # an index written before chunks listed their sentences
        got = store.sentences.get(where={"chunk_id": {"$in": list(rank)}}, include=include)
    seen, out = set(), []
    for sid, text, meta, emb in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"]):
        key = (meta["doc_id"], meta["start"], meta["end"])
        if key in seen or looks_like_instruction(text):
            continue  # a repeat, or a planted instruction: data, never an answer
        seen.add(key)
        out.append(Candidate(sid, meta["chunk_id"], meta["doc_id"], meta.get("source", ""), meta.get("title", ""),
                             text, int(meta["start"]), int(meta["end"]), np.asarray(emb, dtype="float32"),
                             rank.get(meta["chunk_id"], len(rank))))
    return out


def question_weights(question: str, doc_freq, n_docs: int, extra: str = "") -> dict[str, float]:
    """Stem -> IDF weight for the question's words.

    ``extra`` words (context carried over from earlier turns) and the noun after a
    demonstrative ("that *ruling*") name what was already discussed, not what is
    asked, so they count for little: they served retrieval already.
    """
    weights: dict[str, float] = {}
    refs = {stem(m.lower()) for m in _DEMONSTRATIVE_NOUN.findall(question)}
    for text, scale in ((question, 1.0), (extra, EXTRA_SCALE)):
        for w in tokenize(text):
            idf = math.log(1 + (n_docs + 1) / (doc_freq(w) + 0.5))
            s = stem(w)
            f = scale * (REF_SCALE if s in refs else 1.0)
            weights[s] = max(weights.get(s, 0.0), f * idf)
    return weights


def score_candidates(cands: list[Candidate], qvec, weights: dict[str, float], said: str = "") -> list[Candidate]:
    """Fill in cos, coverage and score; best first. Sentences quoted in ``said`` (earlier answers) lose
    SAID_PENALTY, so a follow-up adds something new when the passages allow it."""
    total = sum(weights.values()) or 1.0
    for c in cands:
        c.cos = float(c.vec @ qvec)
        words = {stem(w) for w in tokenize(c.text)}
        c.coverage = sum(v for s, v in weights.items() if s in words) / total
        short = len(c.text.split()) < MIN_WORDS
        c.score = W_COS * c.cos + W_LEX * c.coverage - (0.3 if short else 0.0) - 0.01 * c.passage_rank
        if said and c.text.strip() in said:
            c.score -= SAID_PENALTY
        if is_heading(c.text):
            c.score -= HEADING_PENALTY  # echoes the question's words, says nothing
        elif c.text.rstrip().endswith("?"):
            c.score -= QUESTION_PENALTY  # a rhetorical question is not an answer
    return sorted(cands, key=lambda c: -c.score)


def select(cands: list[Candidate], n: int) -> list[Candidate]:
    """Up to ``n`` high-scoring, non-redundant candidates (MMR), in reading order.

    ``cands`` must be scored and sorted (``score_candidates``).
    """
    if not cands or n < 1:
        return []
    best = cands[0].score
    picked = [cands[0]]
    pool = [c for c in cands[1:] if c.score >= REL_CUTOFF * best and c.score > 0]
    while pool and len(picked) < n:
        def mmr(c):
            return MMR_LAMBDA * c.score - (1 - MMR_LAMBDA) * max(float(c.vec @ p.vec) for p in picked)

        nxt = max(pool, key=mmr)
        pool.remove(nxt)
        if max(float(nxt.vec @ p.vec) for p in picked) > 0.92:
            continue  # the same sentence again (e.g. a repeated author bio)
        picked.append(nxt)
    doc_rank: dict[str, int] = {}
    for c in picked:
        doc_rank.setdefault(c.doc_id, len(doc_rank))
    return sorted(picked, key=lambda c: (doc_rank[c.doc_id], c.start))


def is_heading(text: str) -> bool:
    """A section title rather than a sentence: short, no closing punctuation, not a list item."""
    t = text.strip()
    return bool(t) and not _END.search(t) and not _BULLET.match(t) and len(t.split()) <= 15


def expand_lists(picks: list[Candidate], store, records) -> list[Candidate]:
    """After a pick that introduces a list ("Key strategies include:"), add the list's items.

    The items are read from the stored sentences of the same document version
    that follow the lead-in, up to the first non-item; each is quoted and cited.
    """
    import numpy as np

    out: list[Candidate] = []
    have = {(c.doc_id, c.start) for c in picks}
    for c in picks:
        out.append(c)
        rec = records.get(c.doc_id)
        if not c.text.rstrip().endswith(":") or rec is None:
            continue
        got = store.sentences.get(
            where={"$and": [{"doc_id": c.doc_id}, {"content_hash": rec.content_hash}, {"start": {"$gte": c.end}},
                            {"start": {"$lt": c.end + 3000}}]},
            include=["documents", "metadatas", "embeddings"])
        rows = sorted(zip(got["documents"], got["metadatas"], got["embeddings"], got["ids"]),
                      key=lambda r: r[1]["start"])
        seen_starts = set()
        for text, meta, emb, sid in rows:
            if meta["start"] in seen_starts:
                continue  # the same sentence stored under two overlapping chunks
            seen_starts.add(meta["start"])
            if not _BULLET.match(text) or len(seen_starts) > MAX_ITEMS:
                break
            if (c.doc_id, meta["start"]) in have:
                continue
            have.add((c.doc_id, meta["start"]))
            out.append(Candidate(sid, meta["chunk_id"], c.doc_id, c.source, c.title, text, int(meta["start"]),
                                 int(meta["end"]), np.asarray(emb, dtype="float32"), c.passage_rank, score=c.score))
    return out
