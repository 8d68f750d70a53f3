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


from core.text import is_bullet, is_heading, stem, tokenize

from ingest.models import Sentence

from .models import Candidate
from .support import looks_like_instruction

# Score = W_COS * cosine + W_LEX * IDF-weighted coverage: the cosine finds paraphrases, coverage
# keeps the question's rare words (names, terms) from being outvoted by a fluent near-topic sentence.
W_COS, W_LEX = 0.55, 0.45
MMR_LAMBDA = 0.75  # relevance vs novelty when picking the next sentence
REL_CUTOFF = 0.8  # a pick must score at least this share of the best one
DUPLICATE_COS = 0.92  # two sentences this close say the same thing (e.g. a repeated author bio)
SAID_PENALTY = 0.15  # a sentence already quoted in this chat: a follow-up wants something new
HEADING_PENALTY = 0.25  # a heading echoes the question's words but states nothing
QUESTION_PENALTY = 0.15  # a rhetorical question is not an answer
SHORT_PENALTY = 0.3  # fewer than MIN_WORDS words: a fragment, not a statement
RANK_PENALTY = 0.01  # per passage rank: ties go to the passage retrieval ranked higher
MIN_WORDS = 4  # shorter "sentences" are headings or fragments
MAX_ITEMS = 8  # bullet items quoted after a "... include:" lead-in
EXTRA_SCALE = 0.05  # words carried over from earlier turns served retrieval; they barely count here
REF_SCALE = 0.3  # the noun after "that"/"this" names what was discussed, not what is asked
# A follow-up's rewritten query found the right chunks, but the sentences must answer the question
# itself, not restate the earlier turn the carried-over names came from.
FOLLOWUP_QUESTION_SHARE = 0.7
_DEMONSTRATIVE_NOUN = re.compile(r"\b(?:that|this|these|those|the same)\s+(\w+)", re.I)


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
        out.append(Candidate(_sentence(sid, text, meta), np.asarray(emb, dtype="float32"),
                             rank.get(meta["chunk_id"], len(rank))))
    return out


def _sentence(sid: str, text: str, meta: dict) -> Sentence:
    """A stored sentence record (id, document, metadata) as a Sentence."""
    return Sentence(meta["doc_id"], meta.get("source", ""), meta.get("title", ""), text, int(meta["start"]),
                    int(meta["end"]), int(meta.get("index", 0)), sentence_id=sid, chunk_id=meta["chunk_id"])


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


def rank(question: str, query: str, res, cands: list[Candidate], said: str = "") -> list[Candidate]:
    """The candidates scored for ``question`` and sorted, best first: the one scoring function that
    answering and calibration both use. ``query`` is the retrieval query (a follow-up rewritten
    with earlier turns' names); ``said`` is what the assistant already answered in this chat."""
    import numpy as np

    from .retrieve import query_vector

    extra = query[len(question):] if query.startswith(question) else query
    weights = question_weights(question, res.doc_freq, max(1, len(res.chunk_ids)), extra)
    qvec = query_vector(res.embedder, query)
    if query != question:
        share = FOLLOWUP_QUESTION_SHARE
        qvec = share * query_vector(res.embedder, question) + (1 - share) * qvec
        qvec = qvec / (np.linalg.norm(qvec) or 1.0)
    return score_candidates(cands, qvec, weights, said=said)


def score_candidates(cands: list[Candidate], qvec, weights: dict[str, float], said: str = "") -> list[Candidate]:
    """Fill in cos, coverage and score; best first. Sentences quoted in ``said`` (earlier answers) lose
    SAID_PENALTY, so a follow-up adds something new when the passages allow it."""
    total = sum(weights.values()) or 1.0
    for c in cands:
        c.cos = float(c.vec @ qvec)
        words = {stem(w) for w in tokenize(c.text)}
        c.coverage = sum(v for s, v in weights.items() if s in words) / total
        short = len(c.text.split()) < MIN_WORDS
        c.score = (W_COS * c.cos + W_LEX * c.coverage - (SHORT_PENALTY if short else 0.0)
                   - RANK_PENALTY * c.passage_rank)
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
        if max(float(nxt.vec @ p.vec) for p in picked) > DUPLICATE_COS:
            continue
        picked.append(nxt)
    doc_rank: dict[str, int] = {}
    for c in picked:
        doc_rank.setdefault(c.doc_id, len(doc_rank))
    return sorted(picked, key=lambda c: (doc_rank[c.doc_id], c.start))


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
            if not is_bullet(text) or len(seen_starts) > MAX_ITEMS:
                break
            if (c.doc_id, meta["start"]) in have:
                continue
            have.add((c.doc_id, meta["start"]))
            out.append(Candidate(_sentence(sid, text, meta), np.asarray(emb, dtype="float32"), c.passage_rank,
                                 score=c.score))
    return out
