"""``answer``: question in, cited Answer out (extractive by default, or through an LLM).

Steps: clean the question; rewrite a follow-up from history; hybrid retrieval;
score the retrieved chunks' stored sentences; refuse when the evidence is weak
or key terms are missing; otherwise quote the best sentences (extractive) or
ask the LLM and keep only its sentences a passage supports.
"""
from __future__ import annotations

import re
import time

from ingest.errors import InputError, LLMUnavailableError
from ingest.models import Answer, Citation

from . import extractive, refusal
from .retrieve import get_resources, query_vector, search

MAX_QUESTION = 2000  # characters; longer questions are cut (a 100 KB paste must stay fast)
REFUSAL_TEXT = "The documents don't say. The closest passages are listed as related, but they do not answer this."
N_RELATED = 3
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_question(question) -> tuple[str, str]:
    """(question, note): whitespace collapsed, cut to MAX_QUESTION chars; InputError if nothing to ask."""
    if not isinstance(question, str):
        raise InputError("the question must be text; type a question about the documents")
    note = ""
    if len(question) > 4 * MAX_QUESTION:
        question = question[:4 * MAX_QUESTION]  # bound the regex work below
    # Control characters (NUL, bell, terminal escapes) come from pastes and break terminals and logs.
    question = _CONTROL.sub(" ", _ANSI.sub(" ", question))
    q = " ".join(question.split())
    if not q:
        raise InputError("the question is empty; type a question about the documents")
    if not re.search(r"\w", q):
        raise InputError("the question has no words, only punctuation; type a question about the documents")
    if len(q) > MAX_QUESTION or len(question) >= 4 * MAX_QUESTION:
        q = q[:MAX_QUESTION].rsplit(" ", 1)[0] or q[:MAX_QUESTION]
        note = f"question truncated to its first {MAX_QUESTION} characters"
    return q, note


def _citation(n: int, cand, passages_by_id, score: float | None = None) -> Citation:
    p = passages_by_id.get(cand.chunk_id)
    return Citation(n, cand.source, cand.title, cand.text, cand.start, cand.end, cand.chunk_id,
                    p.text if p else cand.text, p.start if p else cand.start,
                    round(float(cand.score if score is None else score), 4))


def _related(passages, ranked, by_id) -> tuple[Citation, ...]:
    """The best sentence of each of the closest passages, shown as "related, but not an answer"."""
    out, used = [], set()
    for c in ranked:
        if c.chunk_id in used:
            continue
        used.add(c.chunk_id)
        out.append(_citation(len(out) + 1, c, by_id))
        if len(out) >= N_RELATED:
            break
    if not out:  # no stored sentences: fall back to the passages themselves
        for p in passages[:N_RELATED]:
            out.append(Citation(len(out) + 1, p.source, p.title, p.text, p.start, p.end, p.chunk_id, p.text,
                                p.start, round(p.score, 4)))
    return tuple(out)


def _said(history) -> str:
    """What the assistant already answered in this conversation (its sentences are demoted)."""
    return " ".join(h["content"] for h in (history or []) if isinstance(h, dict)
                    and h.get("role") == "assistant" and isinstance(h.get("content"), str))


def _join(notes) -> str:
    return "; ".join(n for n in notes if n)


def extractive_text(picks, by_id) -> tuple[str, tuple[Citation, ...]]:
    """Answer text with [n] after each quoted sentence, and its citations."""
    cites = tuple(_citation(i, c, by_id) for i, c in enumerate(picks, 1))
    text = " ".join(f"{c.text.strip()} [{i}]" for i, c in enumerate(picks, 1))
    return text, cites


def answer(question: str, history: list[dict] | None = None, settings=None, mode: str | None = None,
           k: int | None = None, embedder=None, store=None) -> Answer:
    """Answer ``question`` from the index: every sentence cited, or an honest refusal.

    ``settings`` None means ``load_settings()``; ``mode`` None means ``settings.mode``;
    ``k`` None means ``settings.top_k``. Raises InputError for an empty or
    punctuation-only question and IndexMissingError when nothing is indexed.
    """
    t0 = time.perf_counter()
    q, note = clean_question(question)
    if settings is None:
        from ingest.settings import load_settings

        settings = load_settings()
    mode = mode or settings.mode
    if mode not in ("extractive", "llm"):
        raise InputError(f"mode must be 'extractive' or 'llm', not {mode!r}")
    k = k or settings.top_k
    notes = [note]
    timings: dict[str, float] = {}
    res = get_resources(settings, embedder, store)

    query = q
    if history:
        from .followup import condense, rewrite

        if mode == "llm":
            from .llm import chat_fn

            query = condense(q, history, chat_fn(settings))
        else:
            query = rewrite(q, history)
    for attempt in range(3):
        passages = search(query, res, k)
        cands = extractive.fetch_candidates(res.store, passages)
        if (not res.stale_hits and {c.chunk_id for c in cands} >= {p.chunk_id for p in passages}) \
                or attempt == 2:
            break
        # A re-index switched versions between our manifest read and the vector reads (chunks of a
        # version our snapshot doesn't know, or sentences already dropped): read a new snapshot.
        res = get_resources(settings, embedder, store)
    timings["retrieve"] = (time.perf_counter() - t0) * 1000.0

    t1 = time.perf_counter()
    by_id = {p.chunk_id: p for p in passages}
    extra = query[len(q):] if query.startswith(q) else query
    weights = extractive.question_weights(q, res.doc_freq, max(1, len(res.chunk_ids)), extra)
    qvec = query_vector(res.embedder, query)
    if query != q:
        # The rewritten query found the right chunks; the sentences must answer the question itself,
        # not restate the earlier turn the carried-over names came from.
        import numpy as np

        qvec = 0.7 * query_vector(res.embedder, q) + 0.3 * qvec
        qvec = qvec / (np.linalg.norm(qvec) or 1.0)
    ranked = extractive.score_candidates(cands, qvec, weights, said=_said(history))
    decision = refusal.assess(q, passages, ranked, settings.refusal_threshold, res.doc_freq, len(res.chunk_ids))

    def done(text, cites, refused, used_mode, flagged=(), related=()):
        timings["answer"] = (time.perf_counter() - t1) * 1000.0
        timings["total"] = (time.perf_counter() - t0) * 1000.0
        return Answer(question=q, text=text, citations=tuple(cites), refused=refused, mode=used_mode,
                      timings_ms={key: round(v, 2) for key, v in timings.items()}, related=tuple(related),
                      flagged=tuple(flagged), note=_join(notes))

    if decision.refuse:
        notes.append(f"refused: {decision.reason}")
        return done(REFUSAL_TEXT, (), True, mode, related=_related(passages, ranked, by_id))
    notes.append(decision.premise_note)
    said = _said(history)
    fresh = [c for c in ranked if not (said and c.text.strip() in said)]
    # A follow-up wants something new: quote what was already answered only when nothing else is left.
    # Headings and rhetorical questions echo the question's words but state nothing: never quote them.
    stating = [c for c in fresh if not extractive.is_heading(c.text) and not c.text.rstrip().endswith("?")]
    picks = extractive.select(stating or fresh or ranked, settings.answer_sentences)
    picks = extractive.expand_lists(picks, res.store, res.records)
    if mode == "extractive":
        text, cites = extractive_text(picks, by_id)
        return done(text, cites, False, mode)

    from .llm import llm_answer

    t2 = time.perf_counter()
    try:
        text, cites, flagged = llm_answer(q, passages, ranked, settings, res.embedder, by_id)
    except LLMUnavailableError as e:
        notes.append(f"LLM unreachable ({e}); extractive answer shown")
        text, cites = extractive_text(picks, by_id)
        timings["llm"] = (time.perf_counter() - t2) * 1000.0
        return done(text, cites, False, "extractive")
    timings["llm"] = (time.perf_counter() - t2) * 1000.0
    if not cites:
        notes.append("no sentence of the LLM's reply was supported by the passages; extractive answer shown")
        text, cites = extractive_text(picks, by_id)
        return done(text, cites, False, "extractive", flagged=flagged)
    return done(text, cites, False, "llm", flagged=flagged)
