"""Candidate sentences and the one scoring function that answering and calibration share.

Candidates are the stored sentences of the retrieved chunks (read with the embeddings and
entities recorded at ingest; nothing is re-embedded). ``rank`` scores each by cosine to the
query plus IDF-weighted lemma coverage of the question's words, with a bonus when it holds the
kind of entity the question asks for; ``rerank_passages`` then orders the retrieved passages by
their best sentence, so a chunk whose one sentence answers the question is not lost at rank 7.
What to quote is ``qa/select.py``'s job.
"""
from __future__ import annotations

import functools
import math
import re

from core.text import is_heading, lemma_set, lemmas, tokenize
from ingest.models import Sentence

from .models import Candidate
from .question import Question, mentions

# Score = W_COS * cosine + W_LEX * IDF-weighted coverage: the cosine finds paraphrases, coverage
# keeps the question's rare words (names, terms) from being outvoted by a fluent near-topic sentence.
W_COS, W_LEX = 0.55, 0.45
SAID_PENALTY = 0.15  # a sentence already quoted in this chat: a follow-up wants something new
HEADING_PENALTY = 0.25  # a heading echoes the question's words but states nothing
QUESTION_PENALTY = 0.15  # a rhetorical question is not an answer
SHORT_PENALTY = 0.3  # fewer than MIN_WORDS words: a fragment, not a statement
RANK_PENALTY = 0.01  # per passage rank: ties go to the passage retrieval ranked higher
TYPE_BONUS = 0.05  # holds the kind of entity asked for (a date for "when"): an answer, not an echo
MIN_WORDS = 4  # shorter "sentences" are headings or fragments
EXTRA_SCALE = 0.05  # words carried over from earlier turns served retrieval; they barely count here
REF_SCALE = 0.3  # the noun after "that"/"this" names what was discussed, not what is asked
# A follow-up's rewritten query found the right chunks, but the sentences must answer the question
# itself, not restate the earlier turn the carried-over names came from.
FOLLOWUP_QUESTION_SHARE = 0.7
# Passages are re-ordered by best sentence score + RRF_WEIGHT * their fused retrieval score
# (1 / (RRF_K + rank)). hit@5 of the re-ordered top 5 (k=10 pool) was flat for weights 0.5-2 on
# squad2-dev eval (0.95-0.955, 0.90 before), seed_qa (0.915-0.936) and casual_qa (0.857).
RRF_WEIGHT = 1.0
_DEMONSTRATIVE_NOUN = re.compile(r"\b(?:that|this|these|those|the same)\s+(\w+)", re.I)


def fetch_candidates(store, passages) -> list[Candidate]:
    """Sentences of the retrieved chunks with their stored embeddings and entities.

    Each chunk record carries its sentences (ingest/sentpack.py), and the search that found the
    passages kept their records (``Store.chunk_records``), so this reads nothing more in the common
    case. A sentence in the overlap of two chunks is listed by both; it is kept once and belongs to
    the better-ranked passage that lists it.
    """
    from ingest.sentpack import unpack

    if not passages:
        return []
    records = store.chunk_records([p.chunk_id for p in passages])
    seen, out = set(), []
    for at, p in enumerate(passages):
        rec = records.get(p.chunk_id)
        if rec is None:
            continue  # dropped by a re-index since the search: answer.gather reads a new snapshot
        for sid, text, meta, vec in unpack(p.chunk_id, *rec):
            key = (meta["doc_id"], meta["start"], meta["end"])
            if key in seen:
                continue
            seen.add(key)
            out.append(Candidate(_sentence(sid, text, meta, p.chunk_id), vec, at, ents=parse_entities(meta.get("ents"))))
    return out


def _sentence(sid: str, text: str, meta: dict, chunk_id: str | None = None) -> Sentence:
    """A stored sentence record (id, document, metadata) as a Sentence."""
    return Sentence(meta["doc_id"], meta.get("source", ""), meta.get("title", ""), text, int(meta["start"]),
                    int(meta["end"]), int(meta.get("index", 0)), sentence_id=sid,
                    chunk_id=chunk_id or meta["chunk_id"])


@functools.lru_cache(maxsize=8192)  # every answer parses ~70 of the same few thousand sentences' entities
def parse_entities(raw) -> tuple | None:
    """The ``ents`` metadata of a sentence ("LABEL\\ttext" lines) as (label, text) pairs; None if unrecorded."""
    if raw is None:
        return None
    return tuple(tuple(line.split("\t", 1)) for line in str(raw).split("\n") if "\t" in line)


def idf(df: int, n_docs: int) -> float:
    """Smoothed inverse document frequency of a word found in ``df`` of ``n_docs`` chunks (BM25's form)."""
    return math.log(1 + (n_docs + 1) / (df + 0.5))


def question_weights(question: str, doc_freq, n_docs: int, extra: str = "") -> dict[str, float]:
    """Token -> IDF weight for the question's words (matched by lemma).

    ``extra`` words (context carried over from earlier turns) and the noun after a
    demonstrative ("that *ruling*") name what was already discussed, not what is
    asked, so they count for little: they served retrieval already.
    """
    weights: dict[str, float] = {}
    refs = {m.lower() for m in _DEMONSTRATIVE_NOUN.findall(question)}
    for text, scale in ((question, 1.0), (extra, EXTRA_SCALE)):
        for w in tokenize(text):
            f = scale * (REF_SCALE if w in refs else 1.0)
            weights[w] = max(weights.get(w, 0.0), f * idf(doc_freq(w), n_docs))
    return weights


def rank(question: str, query: str, res, cands: list[Candidate], said: str = "",
         q: Question | None = None) -> list[Candidate]:
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
    for c in cands:
        c.cos = float(c.vec @ qvec)
    return score(cands, weights, said, q)


def score(cands: list[Candidate], weights: dict[str, float], said: str = "",
          q: Question | None = None) -> list[Candidate]:
    """Fill in coverage and score (``cos`` already set); best first."""
    total = sum(weights.values()) or 1.0
    matchers = {t: lemmas(t) for t in weights}
    for c in cands:
        lems = lemma_set(c.text)
        c.coverage = sum(v for t, v in weights.items() if matchers[t] & lems) / total
        short = len(c.text.split()) < MIN_WORDS
        c.score = (W_COS * c.cos + W_LEX * c.coverage - (SHORT_PENALTY if short else 0.0)
                   - RANK_PENALTY * c.passage_rank)
        if said and c.text.strip() in said:
            c.score -= SAID_PENALTY
        if is_heading(c.text):
            c.score -= HEADING_PENALTY
        elif c.text.rstrip().endswith("?"):
            c.score -= QUESTION_PENALTY
        if q is not None and q.expected and _typed(q, c):
            c.score += TYPE_BONUS
    return sorted(cands, key=lambda c: -c.score)


def _typed(q: Question, c: Candidate) -> bool:
    return any(label in q.expected and not mentions(q, text) for label, text in (c.ents or ()))


def rerank_passages(passages: list, ranked: list[Candidate], k: int, rrf_only: bool = False
                    ) -> tuple[list, list[Candidate]]:
    """The ``k`` passages with the best sentence score plus RRF_WEIGHT / (RRF_K + fused rank), and their candidates.

    Candidates keep their order; their passage rank (and its small penalty) follows the new order, and
    a passage's score becomes the value it was ordered by. ``rrf_only`` keeps the retrieval order.
    """
    best: dict[str, float] = {}
    for c in ranked:
        best[c.chunk_id] = max(best.get(c.chunk_id, -1.0), c.score + RANK_PENALTY * c.passage_rank)
    from .retrieve import RRF_K

    import dataclasses

    def value(i: int) -> float:
        return (0.0 if rrf_only else best.get(passages[i].chunk_id, -1.0)) + RRF_WEIGHT / (RRF_K + i + 1)

    order = sorted(range(len(passages)), key=lambda i: -value(i))[:k]
    kept = [dataclasses.replace(passages[i], score=round(value(i), 6)) for i in order]
    new_rank = {p.chunk_id: i for i, p in enumerate(kept)}
    out = []
    for c in ranked:
        if c.chunk_id in new_rank:
            c.score += RANK_PENALTY * (c.passage_rank - new_rank[c.chunk_id])
            c.passage_rank = new_rank[c.chunk_id]
            out.append(c)
    return kept, sorted(out, key=lambda c: -c.score)
