"""Pure metric functions for ``docqa eval``: no model, no index, no I/O.

Every per-question metric returns a float in [0, 1], or ``None`` when the
question lacks what the metric needs (no evidence, no key facts, ...), so
aggregates average only over the questions where a metric is defined.
"""
from __future__ import annotations

import math

from core.text import fact_tokens as tokens  # noqa: F401  (re-exported: eval and tests match facts with it)
from core.text import normalize

# Metrics where a smaller value is better; `--fail-over` guards these.
LOWER_IS_BETTER = ("false_refusal_rate", "latency_p50_ms", "latency_p95_ms")


def _contains_seq(hay: list[str], needle: list[str]) -> bool:
    if not needle:
        return False
    n = len(needle)
    return any(hay[i:i + n] == needle for i in range(len(hay) - n + 1))


def fact_in(text: str, fact: str) -> bool:
    """True if ``fact`` occurs in ``text`` as a run of words (see ``tokens``)."""
    return _contains_seq(tokens(text), tokens(fact))


def key_fact_recall(answer: str, key_facts) -> float | None:
    """Share of key facts found in the answer; None without key facts."""
    facts = [f for f in (key_facts or []) if str(f).strip()]
    if not facts:
        return None
    have = tokens(answer)
    return sum(_contains_seq(have, tokens(f)) for f in facts) / len(facts)


def containment(answer: str, gold: str | None, max_words: int = 8) -> float | None:
    """1.0 if the (short) gold answer occurs in the answer; None if there is none or it is long."""
    if not gold or not str(gold).strip() or len(str(gold).split()) > max_words:
        return None
    return 1.0 if fact_in(answer, gold) else 0.0


# -- retrieval -------------------------------------------------------------
def passage_relevant(text: str, source: str, evidence, sources) -> bool | None:
    """Whether a retrieved passage supports the question.

    With evidence: it contains an evidence string (normalised). Without: it is
    from a listed source. None when the question has neither.
    """
    ev = [normalize(e) for e in (evidence or []) if str(e).strip()]
    if ev:
        t = normalize(text)
        return any(e in t for e in ev)
    if sources:
        return _base(source) in {_base(s) for s in sources}
    return None


def _base(source: str) -> str:
    return str(source).replace("\\", "/").rsplit("/", 1)[-1]


def _dedupe(passages) -> list:
    """Drop repeats of a chunk (same chunk_id, or same source+span) keeping the first."""
    seen, out = set(), []
    for p in passages:
        key = p.get("chunk_id") or (p.get("source"), p.get("start"), p.get("end"), p.get("text"))
        if key in seen:
            continue
        seen.add(key)
        out.append(p)
    return out


def first_relevant_rank(passages, evidence, sources, k: int) -> int | None | bool:
    """1-based rank of the first relevant passage among the top k distinct ones;
    0 if none is relevant; None if relevance is undefined for this question."""
    if not [e for e in (evidence or []) if str(e).strip()] and not sources:
        return None
    for rank, p in enumerate(_dedupe(passages)[:k], 1):
        if passage_relevant(p.get("text", ""), p.get("source", ""), evidence, sources):
            return rank
    return 0


def hit_at_k(passages, evidence, sources, k: int) -> float | None:
    """1.0 if any of the top-k distinct passages is relevant, else 0.0 (None: undefined)."""
    rank = first_relevant_rank(passages, evidence, sources, k)
    return None if rank is None else float(rank > 0)


def reciprocal_rank(passages, evidence, sources, k: int) -> float | None:
    """1/rank of the first relevant passage in the top k distinct ones, 0.0 if none."""
    rank = first_relevant_rank(passages, evidence, sources, k)
    return None if rank is None else (1.0 / rank if rank else 0.0)


def evidence_recall(passages, evidence, k: int) -> float | None:
    """Share of evidence strings found in at least one top-k passage (multi-document coverage)."""
    ev = [normalize(e) for e in (evidence or []) if str(e).strip()]
    if not ev:
        return None
    texts = [normalize(p.get("text", "")) for p in _dedupe(passages)[:k]]
    return sum(any(e in t for t in texts) for e in ev) / len(ev)


# -- citations -------------------------------------------------------------
def citation_valid(citation: dict, doc_text: str | None) -> bool:
    """A citation's quote must be the cleaned text of its source at its offsets."""
    if doc_text is None:
        return False
    start, end, quote = citation.get("start"), citation.get("end"), citation.get("quote") or ""
    if not isinstance(start, int) or not isinstance(end, int) or not quote or not 0 <= start < end:
        return False
    return doc_text[start:end] == quote


def citation_validity(citations, doc_texts: dict) -> float | None:
    """Share of citations that are valid (None without citations); ``doc_texts``: source -> text."""
    if not citations:
        return None
    return sum(citation_valid(c, doc_texts.get(c.get("source"))) for c in citations) / len(citations)


def evidence_spans(doc_text: str | None, evidence) -> list[tuple[int, int]]:
    """Offsets of each evidence string in a document's cleaned text (exact match)."""
    spans = []
    for e in evidence or []:
        if doc_text and e and (i := doc_text.find(e)) >= 0:
            spans.append((i, i + len(e)))
    return spans


def citation_supports(citation: dict, evidence, spans: dict | None = None) -> bool:
    """The cited quote contains an evidence string, lies inside one, or overlaps one in its source.

    ``spans``: source -> [(start, end)] of evidence in that source's cleaned text.
    """
    quote = normalize(citation.get("quote") or "")
    if not quote:
        return False
    for e in evidence or []:
        e = normalize(e)
        if e and (e in quote or quote in e):
            return True
    s, t = citation.get("start"), citation.get("end")
    for a, b in (spans or {}).get(citation.get("source"), []):
        if isinstance(s, int) and isinstance(t, int) and s < b and a < t:
            return True
    return False


def citation_precision(citations, evidence, spans: dict | None = None) -> float | None:
    """Share of citations that support the question; None without citations or evidence."""
    if not citations or not [e for e in (evidence or []) if str(e).strip()]:
        return None
    return sum(citation_supports(c, evidence, spans) for c in citations) / len(citations)


# -- aggregation -----------------------------------------------------------
def mean(values) -> float | None:
    """Mean of the values that are not None; None if there are none."""
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def percentile(values, q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation, like numpy's default."""
    vals = sorted(float(v) for v in values if v is not None and not math.isnan(v))
    if not vals:
        return None
    pos = (len(vals) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def summarize(rows: list[dict]) -> dict:
    """Aggregate per-question rows (see ``eval.runner``) into one metrics dict.

    refusal_rate averages ``refused`` over unanswerable rows, false_refusal_rate
    over answerable rows; the others average each row's score where defined.
    """
    unans = [r for r in rows if r["unanswerable"]]
    ans = [r for r in rows if not r["unanswerable"]]
    out = {"n": len(rows)}
    for name in ("hit@k", "mrr", "evidence_recall", "key_fact_recall", "containment",
                 "citation_validity", "citation_precision"):
        out[name] = mean(r["scores"].get(name) for r in rows)
    out["refusal_rate"] = mean(float(r["refused"]) for r in unans)
    out["false_refusal_rate"] = mean(float(r["refused"]) for r in ans)
    lat = [r["latency_ms"] for r in rows if r.get("latency_ms") is not None]
    out["latency_p50_ms"] = percentile(lat, 50)
    out["latency_p95_ms"] = percentile(lat, 95)
    return out


METRICS = ("hit@k", "mrr", "evidence_recall", "key_fact_recall", "containment", "citation_validity",
           "citation_precision", "refusal_rate", "false_refusal_rate", "latency_p50_ms", "latency_p95_ms")
