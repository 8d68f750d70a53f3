"""Metric functions on hand-made cases whose right value is known."""
from __future__ import annotations

import pytest

from eval import metrics as M

pytestmark = pytest.mark.unit


def P(text, source="a.txt", chunk_id=None, start=0, end=None):
    return {"text": text, "source": source, "chunk_id": chunk_id or f"{source}:{text[:10]}", "start": start,
            "end": len(text) if end is None else end}


# -- normalisation and fact matching ----------------------------------------
def test_normalize_unifies_quotes_dashes_case_and_space():
    assert M.normalize("Beijing’s  “AI”\n—Plan") == M.normalize("beijing's \"ai\" -plan")


@pytest.mark.parametrize("answer, fact", [
    ("A record 12,700,000 graduates", "12.7 million"),
    ("a record 12.7 million graduates", "12,700,000"),
    ("costs rose 12.70 percent", "12.7%"),
    ("in the 1990s, tens of millions", "1990s"),
    ("The HANGZHOU Intermediate People’s Court ruled", "hangzhou intermediate people's court"),
    ("firms can’t just lay off employees", "can't just lay off"),
    ("Malašauskas wrote it", "Malasauskas"),
])
def test_fact_in_matches(answer, fact):
    assert M.fact_in(answer, fact)


@pytest.mark.parametrize("answer, fact", [
    ("12.7 million graduates", "12.8 million"),
    ("in the 1990s", "1990"),  # a decade is not a year
    ("in 2030", "203"),  # numbers match whole, not as digit prefixes
    ("the court in Hangzhou", "Hangzhou Intermediate People's Court"),
    ("retrain", "retraining"),
])
def test_fact_in_rejects(answer, fact):
    assert not M.fact_in(answer, fact)


def test_key_fact_recall_values():
    assert M.key_fact_recall("Baidu and Alibaba were named.", ["Baidu", "Alibaba", "Huawei", "Tencent"]) == 0.5
    assert M.key_fact_recall("", ["Baidu"]) == 0.0  # empty answer
    assert M.key_fact_recall("anything", []) is None  # nothing to recall
    assert M.key_fact_recall("anything", None) is None
    assert M.key_fact_recall("anything", ["  "]) is None


def test_containment_only_for_short_gold_answers():
    assert M.containment("It was the Hangzhou Intermediate People’s Court.", "Hangzhou Intermediate People's Court") == 1.0
    assert M.containment("It was a Beijing court.", "Hangzhou court") == 0.0
    assert M.containment("", "2030") == 0.0  # empty answer
    assert M.containment("x", None) is None
    assert M.containment("x", "one two three four five six seven eight nine") is None  # too long to expect verbatim


# -- retrieval --------------------------------------------------------------
EV = ["the Hangzhou Intermediate People’s Court recently declared"]


def test_hit_and_mrr_with_evidence():
    ps = [P("unrelated"), P("Also unrelated"), P("A ruling by the Hangzhou Intermediate People's Court   recently declared x")]
    assert M.hit_at_k(ps, EV, None, k=3) == 1.0
    assert M.reciprocal_rank(ps, EV, None, k=3) == pytest.approx(1 / 3)
    assert M.hit_at_k(ps, EV, None, k=2) == 0.0
    assert M.reciprocal_rank(ps, EV, None, k=2) == 0.0


def test_evidence_wins_over_sources():
    # The right file but the wrong chunk is a miss when evidence is given.
    ps = [P("unrelated text", source="b.txt")]
    assert M.hit_at_k(ps, EV, ["b.txt"], k=5) == 0.0


def test_no_evidence_falls_back_to_sources():
    ps = [P("x", source="docs/a.txt"), P("y", source="b.txt")]
    assert M.hit_at_k(ps, None, ["b.txt"], k=5) == 1.0
    assert M.reciprocal_rank(ps, [], ["b.txt"], k=5) == 0.5
    assert M.reciprocal_rank(ps, [], ["a.txt"], k=5) == 1.0  # folder-qualified source matches by name
    assert M.hit_at_k(ps, None, ["c.txt"], k=5) == 0.0


def test_neither_evidence_nor_sources_is_undefined():
    assert M.hit_at_k([P("x")], None, None, k=5) is None
    assert M.reciprocal_rank([P("x")], [], [], k=5) is None
    assert M.evidence_recall([P("x")], [], k=5) is None


def test_duplicated_chunks_do_not_inflate_or_shift_ranks():
    good = P("the Hangzhou Intermediate People’s Court recently declared", chunk_id="c1")
    bad = P("unrelated", chunk_id="c2")
    ps = [good, good, good, bad]
    assert M.hit_at_k(ps, EV + EV, None, k=5) == 1.0  # never above 1
    assert M.evidence_recall(ps, EV, k=5) == 1.0
    # duplicates of a miss do not push the hit out of the top k
    ps2 = [bad, bad, bad, good]
    assert M.reciprocal_rank(ps2, EV, None, k=2) == 0.5
    summary = M.summarize([_row(hit=M.hit_at_k(ps, EV, None, 5)), _row(hit=1.0)])
    assert summary["hit@k"] == 1.0


def test_evidence_recall_counts_each_string_once():
    ps = [P("Baidu and Alibaba"), P("Baidu and Alibaba again"), P("nothing")]
    assert M.evidence_recall(ps, ["Baidu and Alibaba", "Huawei and Tencent"], k=3) == 0.5


# -- citations --------------------------------------------------------------
DOC = "First sentence here. The court ruled firms can’t lay off staff. Last one."


def _cite(quote, start=None, source="a.txt"):
    start = DOC.find(quote) if start is None else start
    return {"source": source, "quote": quote, "start": start, "end": start + len(quote)}


def test_citation_validity():
    good = _cite("The court ruled firms can’t lay off staff.")
    shifted = {**good, "start": good["start"] + 1, "end": good["end"] + 1}
    unknown = _cite("First sentence here.", source="gone.txt")
    assert M.citation_validity([good], {"a.txt": DOC}) == 1.0
    assert M.citation_validity([good, shifted, unknown], {"a.txt": DOC}) == pytest.approx(1 / 3)
    assert M.citation_validity([], {"a.txt": DOC}) is None
    assert M.citation_validity([{**good, "quote": ""}], {"a.txt": DOC}) == 0.0


def test_citation_precision():
    ev = ["firms can't lay off staff"]
    hit, miss = _cite("The court ruled firms can’t lay off staff."), _cite("Last one.")
    assert M.citation_precision([hit, miss], ev) == 0.5
    assert M.citation_precision([hit], None) is None  # no evidence: undefined
    assert M.citation_precision([], ev) is None  # no citations: undefined
    # Quote inside a longer evidence string counts, and so does an offset overlap.
    assert M.citation_precision([_cite("First sentence here.")], ["First sentence here. The court"]) == 1.0
    spans = {"a.txt": M.evidence_spans(DOC, ["here. The court"])}
    assert spans["a.txt"] == [(DOC.find("here. The"), DOC.find("here. The") + len("here. The court"))]
    assert M.citation_precision([_cite("First sentence here.")], ["here. The court"], spans) == 1.0
    assert M.citation_precision([_cite("First sentence here.", source="b.txt")], ["here. The court"], spans) == 0.0


# -- aggregation ------------------------------------------------------------
def _row(hit=None, refused=False, unanswerable=False, latency=None, facts=None):
    return {"unanswerable": unanswerable, "refused": refused, "latency_ms": latency,
            "scores": {"hit@k": hit, "key_fact_recall": facts}}


def test_summarize_refusal_rates_and_undefined_metrics():
    rows = [_row(hit=1.0, facts=1.0), _row(hit=0.0, facts=0.0, refused=True),
            _row(unanswerable=True, refused=True), _row(unanswerable=True, refused=False)]
    s = M.summarize(rows)
    assert s["n"] == 4
    assert s["hit@k"] == 0.5  # unanswerable rows have no hit defined
    assert s["refusal_rate"] == 0.5
    assert s["false_refusal_rate"] == 0.5
    assert s["citation_precision"] is None


def test_all_refused():
    rows = [_row(refused=True, hit=1.0, facts=0.0), _row(refused=True, unanswerable=True)]
    s = M.summarize(rows)
    assert s["refusal_rate"] == 1.0 and s["false_refusal_rate"] == 1.0 and s["key_fact_recall"] == 0.0


def test_zero_questions_of_a_type():
    s = M.summarize([])
    assert s["n"] == 0
    assert all(s[m] is None for m in M.METRICS)
    only_answerable = M.summarize([_row(hit=1.0)])
    assert only_answerable["refusal_rate"] is None and only_answerable["false_refusal_rate"] == 0.0


def test_percentiles():
    vals = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert M.percentile(vals, 50) == 55.0
    assert M.percentile(vals, 95) == pytest.approx(95.5)
    assert M.percentile([7], 95) == 7
    assert M.percentile([], 50) is None
    s = M.summarize([_row(latency=v) for v in vals] + [_row(latency=None)])
    assert s["latency_p50_ms"] == 55.0
