"""What to quote: sentences sized to what the question asks, from every document it spans.

``select`` picks from the scored candidates: one or two sentences for a factoid, more for an
explanation, a list or a comparison (a list's lead-in brings its bullet items), and at least
one sentence from each document that answers about as well as the best one when the question
spans documents. ``leads`` answers an overview question ("what are these articles about?") with
each relevant document's opening statements, and one about a single document ("summarise the piece
on X") with its opening and its most central statements.
"""
from __future__ import annotations

from core.text import is_bullet, is_heading

from .extractive import MIN_WORDS, _sentence, parse_entities
from .models import Candidate
from .question import Question

MMR_LAMBDA = 0.75  # relevance vs novelty when picking the next sentence
REL_CUTOFF = 0.8  # a pick must score at least this share of the best one
DOC_CUTOFF = 0.85  # a document whose best sentence scores this share of the best answers too
DUPLICATE_COS = 0.92  # two sentences this close say the same thing (e.g. a repeated author bio)
MAX_DOCS = 4  # documents quoted for one question at most
MAX_ITEMS = 8  # bullet items quoted after a "... include:" lead-in
LEAD_SENTENCES = 2  # opening statements quoted per document for an overview
SUMMARY_SENTENCES = 5  # one document's overview: lead + most central statements, in all (set before measuring)
LEAD_WINDOW = 8  # the first sentences of a document searched for its lead
MAX_OVERVIEW_DOCS = 6  # "these articles": every document when there are at most this many
SPANNING = ("list", "explain", "compare", "overview")  # shapes whose answer draws on every document


def size(q: Question, n: int) -> int:
    """Sentences to quote for the question's shape; ``n`` (settings.answer_sentences) is an explanation's."""
    return {"factoid": max(1, n - 1), "list": n + 1, "compare": n + 1}.get(q.shape, n)


def _stating(c: Candidate) -> bool:
    return not is_heading(c.text) and not c.text.rstrip().endswith("?") and len(c.text.split()) >= MIN_WORDS


def select(q: Question, ranked: list[Candidate], n: int, said: str = "") -> list[Candidate]:
    """Up to ``size(q, n)`` high-scoring, non-redundant statements (MMR), in reading order.

    ``ranked`` must be scored and sorted. A follow-up quotes what was already said (``said``)
    only when nothing else is left.
    """
    fresh = [c for c in ranked if not (said and c.text.strip() in said)]
    cands = [c for c in fresh if _stating(c)] or fresh or ranked
    if not cands:
        return []
    best = cands[0].score
    picked = [cands[0]]
    if q.shape in SPANNING or q.whole_corpus:
        for doc in dict.fromkeys(c.doc_id for c in cands):  # each document's best, best documents first
            top = next(c for c in cands if c.doc_id == doc)
            if len({c.doc_id for c in picked}) < MAX_DOCS and top.score >= DOC_CUTOFF * best and top not in picked:
                picked.append(top)
    pool = [c for c in cands if c not in picked and c.score >= REL_CUTOFF * best and c.score > 0]
    while pool and len(picked) < size(q, n):
        def mmr(c):
            return MMR_LAMBDA * c.score - (1 - MMR_LAMBDA) * max(float(c.vec @ p.vec) for p in picked)

        nxt = max(pool, key=mmr)
        pool.remove(nxt)
        if max(float(nxt.vec @ p.vec) for p in picked) <= DUPLICATE_COS:
            picked.append(nxt)
    return reading_order(picked)


def reading_order(picked: list[Candidate]) -> list[Candidate]:
    """Documents in the order of their first pick, each one's sentences as they appear in it."""
    doc_rank: dict[str, int] = {}
    for c in picked:
        doc_rank.setdefault(c.doc_id, len(doc_rank))
    return sorted(picked, key=lambda c: (doc_rank[c.doc_id], c.start))


def _read(store, doc_id: str, content_hash: str, min_start: int | None = None, max_index: int | None = None
          ) -> list[tuple]:
    """(text, metadata, embedding, id) of a document version's stored sentences, by position: those starting at
    or after ``min_start``, or numbered below ``max_index``. Read from the chunks that hold them (each chunk
    record carries its sentences); a sentence in two chunks is kept once, under the first."""
    where = [{"doc_id": doc_id}, {"content_hash": content_hash}]
    if min_start is not None:
        where.append({"end": {"$gt": min_start}})  # a sentence starting there ends inside such a chunk
    if max_index is not None:
        where.append({"index": {"$lt": max_index}})  # chunk k's first sentence is numbered k or more
    rows = [(text, meta, vec, sid) for sid, text, meta, vec in store.stored_sentences({"$and": where})
            if (min_start is None or meta["start"] >= min_start) and (max_index is None or meta["index"] < max_index)]
    return sorted(rows, key=lambda r: r[1]["start"])


def _candidate(row, rank: int, score: float) -> Candidate:
    import numpy as np

    text, meta, emb, sid = row
    return Candidate(_sentence(sid, text, meta), np.asarray(emb, dtype="float32"), rank, score=score,
                     ents=parse_entities(meta.get("ents")))


def expand_lists(picks: list[Candidate], store, records) -> list[Candidate]:
    """After a pick that introduces a list ("Key strategies include:"), add the list's items.

    The items are read from the stored sentences of the same document version
    that follow the lead-in, up to the first non-item; each is quoted and cited.
    """
    out: list[Candidate] = []
    have = {(c.doc_id, c.start) for c in picks}
    for c in picks:
        out.append(c)
        rec = records.get(c.doc_id)
        if not c.text.rstrip().endswith(":") or rec is None:
            continue
        rows = _read(store, c.doc_id, rec.content_hash, min_start=c.end)
        for i, row in enumerate(rows):
            if not is_bullet(row[0]) or i >= MAX_ITEMS:
                break
            if (c.doc_id, row[1]["start"]) not in have:
                have.add((c.doc_id, row[1]["start"]))
                out.append(_candidate(row, c.passage_rank, c.score))
    return out


def overview_docs(q: Question, passages, ranked: list[Candidate], records: dict) -> list[str]:
    """The documents an overview question is about: all of them ("these articles"), else the best match."""
    if q.whole_corpus and len(records) <= MAX_OVERVIEW_DOCS:
        return sorted(records, key=lambda d: records[d].source)
    order = list(dict.fromkeys([c.doc_id for c in ranked] + [p.doc_id for p in passages]))
    return order[:MAX_OVERVIEW_DOCS] if q.whole_corpus else order[:1]


def _statements(rows) -> list[tuple]:
    """The rows that state something: no heading, question or fragment."""
    return [r for r in rows
            if not is_heading(r[0]) and not r[0].rstrip().endswith("?") and len(r[0].split()) >= MIN_WORDS]


def _central(rows, have: list[tuple], n: int) -> list[tuple]:
    """Up to ``n`` statements nearest the document's centroid (the centroid summary of Radev et al.),
    skipping any that repeat one already chosen."""
    import numpy as np

    rows = [r for r in rows if not is_bullet(r[0])]  # an item read out of its list does not stand alone
    if not rows or n <= 0:
        return []
    vecs = np.asarray([r[2] for r in rows], dtype="float32")
    centroid = vecs.mean(axis=0)
    chosen = [np.asarray(r[2], dtype="float32") for r in have]
    out = []
    for i in np.argsort(-(vecs @ centroid), kind="stable"):
        if len(out) == n:
            break
        if any(float(vecs[i] @ v) >= DUPLICATE_COS for v in chosen):
            continue
        out.append(rows[i])
        chosen.append(vecs[i])
    return out


def leads(store, records: dict, doc_ids: list[str]) -> list[Candidate]:
    """Each document's first LEAD_SENTENCES statements (its lead, where articles state their thesis); an
    overview of one document adds its most central statements, up to SUMMARY_SENTENCES, in reading order."""
    out: list[Candidate] = []
    for rank, doc in enumerate(doc_ids):
        rec = records.get(doc)
        if rec is None:
            continue
        if len(doc_ids) == 1:
            rows = _statements(_read(store, doc, rec.content_hash))
            lead = rows[:LEAD_SENTENCES]
            body = _central(rows[LEAD_SENTENCES:], lead, SUMMARY_SENTENCES - len(lead))
            picked = sorted(lead + body, key=lambda r: r[1]["start"])
        else:
            picked = _statements(_read(store, doc, rec.content_hash, max_index=LEAD_WINDOW))[:LEAD_SENTENCES]
        out += [_candidate(r, rank, 1.0) for r in picked]
    return out
