"""``answer``: question in, cited Answer out (extractive by default, or through an LLM).

Steps: clean and read the question (``qa.question``); rewrite a follow-up from history; hybrid
retrieval; score the retrieved chunks' stored sentences and re-order the passages by their best
one; pick the sentences to quote, sized to the question (``qa.select``); refuse when the fitted
answerability model says the documents don't answer (``qa.answerability``); otherwise quote the
picks (extractive) or ask the LLM and keep only its sentences a passage supports. An overview
question quotes the opening statements of the documents it is about. A multi-part question ("who
ruled X, and what was the reasoning?") has each part scored, judged and quoted on its own, and the
note names a part the documents don't answer.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace

from core.errors import InputError, LLMUnavailableError
from core.text import chat_turns

from . import answerability, extractive
from .models import Answer, Citation
from .question import Question, analyze, parts
from .retrieve import get_resources, search
from .select import expand_lists, leads, overview_docs, reading_order, select

MAX_QUESTION = 2000  # characters; longer questions are cut (a 100 KB paste must stay fast)
REFUSAL_TEXT = "The documents don't say. The closest passages are listed as related, but they do not answer this."
N_RELATED = 3
CONSISTENT_TRIES = 3  # snapshots tried when a re-index switches versions mid-question
RERANK_POOL = 2  # passages retrieved per passage kept: the extra ones compete on their best sentence
NO_ENTITIES = ("this index records no entities (built before they were): run `docqa ingest` to add them; "
               "until then answer types are checked on numbers only")
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
    return " ".join(h["content"] for h in chat_turns(history, "assistant"))


def _join(notes) -> str:
    return "; ".join(n for n in notes if n)


def extractive_text(picks, by_id) -> tuple[str, tuple[Citation, ...]]:
    """Answer text with [n] after each quoted sentence, and its citations."""
    cites = tuple(_citation(i, c, by_id) for i, c in enumerate(picks, 1))
    text = " ".join(f"{c.text.strip()} [{i}]" for i, c in enumerate(picks, 1))
    return text, cites


@dataclass
class Evidence:
    """What a question retrieved and how its sentences scored: the input of every answer decision."""

    question: str  # cleaned
    query: str  # the retrieval query (a follow-up rewritten from history)
    res: object  # qa.retrieve.Resources of the manifest snapshot used
    passages: list  # Passage, best first (re-ordered by their best sentence)
    ranked: list  # Candidate, scored and sorted (extractive.rank)
    said: str = ""  # what the assistant already answered in this chat
    info: Question | None = None  # the question, read (qa.question.analyze)


def gather(q: str, history, settings, mode: str, k: int, embedder=None, store=None) -> Evidence:
    """Retrieve and score the evidence for cleaned question ``q`` (answering and calibration share it)."""
    res = get_resources(settings, embedder, store)
    info = analyze(q)
    query = q
    if history:
        from .followup import condense, rewrite

        if mode == "llm":
            from .llm import chat_fn

            query = condense(q, history, chat_fn(settings))
        else:
            query = rewrite(q, history)
    for attempt in range(CONSISTENT_TRIES):
        passages = search(query, res, RERANK_POOL * k)
        cands = extractive.fetch_candidates(res.store, passages)
        if (not res.stale_hits and {c.chunk_id for c in cands} >= {p.chunk_id for p in passages}) \
                or attempt == CONSISTENT_TRIES - 1:
            break
        # A re-index switched versions between our manifest read and the vector reads (chunks of a
        # version our snapshot doesn't know, or sentences already dropped): read a new snapshot.
        res = get_resources(settings, embedder, store)
    said = _said(history)
    ranked = extractive.rank(q, query, res, cands, said, info)
    if query == q:
        passages, ranked = extractive.rerank_passages(passages, ranked, k)
    else:  # a follow-up's passages were found for the conversation; its sentences score the question alone
        passages, ranked = extractive.rerank_passages(passages, ranked, k, rrf_only=True)
    return Evidence(q, query, res, passages, ranked, said, info)


def _by_part(ev: Evidence, asks: list[str], settings) -> tuple[list, list[str]]:
    """A multi-part question, each part asked alone: the picks of the parts the documents answer (the
    candidates of ``ev.ranked``, in its order) and the parts they don't. A later part ("what did they
    do") takes the first one's words as light context, as a follow-up takes earlier turns'; one that
    points back at an unanswered part ("... and what does he do?") is unanswered with it."""
    from .followup import refers_back

    keep, unanswered, last_unanswered = {}, [], False
    by_key = {(c.doc_id, c.start): c for c in ev.ranked}
    for i, part in enumerate(asks):
        info = analyze(part)
        scored = extractive.rank(part, part if i == 0 else f"{part} {asks[0]}", ev.res,
                                 [replace(c) for c in ev.ranked], ev.said, info)
        picks = select(info, scored, settings.answer_sentences, ev.said)
        decision = answerability.decide(info, answerability.features(info, ev.passages, scored, picks, ev.res),
                                        threshold=settings.refusal_threshold)
        last_unanswered = decision.refuse or (last_unanswered and refers_back(part))
        if last_unanswered:
            unanswered.append(part)
        else:
            for c in picks:
                keep.setdefault((c.doc_id, c.start), by_key[(c.doc_id, c.start)])
    return list(keep.values()), unanswered


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
        from core.settings import load_settings

        settings = load_settings()
    mode = mode or settings.mode
    if mode not in ("extractive", "llm"):
        raise InputError(f"mode must be 'extractive' or 'llm', not {mode!r}")
    notes = [note]
    timings: dict[str, float] = {}
    ev = gather(q, history, settings, mode, k or settings.top_k, embedder, store)
    timings["retrieve"] = (time.perf_counter() - t0) * 1000.0
    t1 = time.perf_counter()
    by_id = {p.chunk_id: p for p in ev.passages}
    if any(c.ents is None for c in ev.ranked[:1]):
        notes.append(NO_ENTITIES)

    def done(text, cites, refused, used_mode, flagged=(), related=()):
        timings["answer"] = (time.perf_counter() - t1) * 1000.0
        timings["total"] = (time.perf_counter() - t0) * 1000.0
        return Answer(question=q, text=text, citations=tuple(cites), refused=refused, mode=used_mode,
                      timings_ms={key: round(v, 2) for key, v in timings.items()}, related=tuple(related),
                      flagged=tuple(flagged), note=_join(notes))

    if ev.info.shape == "overview":
        docs = overview_docs(ev.info, ev.passages, ev.ranked, ev.res.records)
        picks = leads(ev.res.store, ev.res.records, docs)
        if picks:
            notes.append("an overview: the document's opening and most central statements" if len(docs) == 1
                         else "an overview: the opening statements of each document it is about")
            return done(*extractive_text(picks, by_id), False, "extractive")
    picks, decision = [], answerability.Decision(False, 0.0)
    asks = parts(q) if ev.query == q else [q]
    if len(asks) > 1:  # each part is answered, or said to be unanswered, on its own
        found, unanswered = _by_part(ev, asks, settings)
        if found:
            picks = expand_lists(reading_order(found), ev.res.store, ev.res.records)
            notes += [f'the documents don\'t say: "{part}"' for part in unanswered]
    if not picks:  # one question, or a multi-part one none of whose parts is answered alone: judged whole
        picks = expand_lists(select(ev.info, ev.ranked, settings.answer_sentences, ev.said), ev.res.store,
                             ev.res.records)
        decision = answerability.decide(ev.info, answerability.features(ev.info, ev.passages, ev.ranked, picks,
                                                                         ev.res), threshold=settings.refusal_threshold)
    if decision.refuse or not picks:
        notes.append(f"refused: {decision.reason or 'nothing relevant was retrieved'}")
        return done(REFUSAL_TEXT, (), True, mode, related=_related(ev.passages, ev.ranked, by_id))
    notes.append(answerability.premise_note(q, ev.passages))
    if mode == "extractive":
        return done(*extractive_text(picks, by_id), False, mode)

    from .llm import llm_answer

    t2 = time.perf_counter()
    try:
        text, cites, flagged = llm_answer(q, ev.passages, ev.ranked, settings, ev.res.embedder, by_id)
    except LLMUnavailableError as e:
        notes.append(f"LLM unreachable ({e}); extractive answer shown")
        text, cites, flagged = "", (), None
    timings["llm"] = (time.perf_counter() - t2) * 1000.0
    if not cites:
        if flagged is not None:
            notes.append("no sentence of the LLM's reply was supported by the passages; extractive answer shown")
        return done(*extractive_text(picks, by_id), False, "extractive", flagged=flagged or ())
    return done(text, cites, False, "llm", flagged=flagged)
