"""The project's eval set, eval/seed_qa.jsonl, stays true to the seed corpus."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from ingest.pipeline import prepare_document
from eval.evalset import TYPES, load_evalset
from eval.metrics import fact_in

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "eval" / "seed_qa.jsonl"
CORPUS = ROOT / "corpus"


@pytest.fixture(scope="module")
def items():
    items, warnings = load_evalset(SEED)
    assert warnings == [], warnings
    return items


@pytest.fixture(scope="module")
def texts():
    return {p.name: prepare_document(p, CORPUS).text for p in sorted(CORPUS.glob("*.txt"))}


def test_every_line_parses_and_ids_are_unique(items):
    lines = [line for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(items) == len(lines) >= 50
    for line in lines:
        assert isinstance(json.loads(line), dict)


def test_every_type_and_article_is_covered(items, texts):
    counts = Counter(i.type for i in items)
    assert set(counts) == set(TYPES), counts
    cited = {s for i in items for s in i.sources}
    assert cited == set(texts), f"articles never used: {set(texts) - cited}"
    assert all(len(i.sources) >= 2 for i in items if i.type == "multi_doc")
    assert all(i.history for i in items if i.type == "followup")
    # Both kinds of false premise: one the text corrects (answer expected), one it never mentions (refusal).
    adv = [i for i in items if i.type == "adversarial"]
    assert any(i.unanswerable for i in adv) and any(not i.unanswerable for i in adv)


def test_evidence_is_verbatim_in_the_cleaned_source(items, texts):
    for i in items:
        for s in i.sources:
            assert s in texts, f"{i.id}: unknown source {s}"
        for e in i.evidence:
            assert any(e in texts[s] for s in i.sources), f"{i.id}: evidence not in {i.sources}: {e!r}"


def test_answerable_questions_are_fully_labelled_and_facts_findable(items, texts):
    for i in items:
        if i.unanswerable:
            assert not (i.key_facts or i.evidence or i.answer), f"{i.id}: unanswerable but labelled"
            continue
        assert i.key_facts and i.sources and i.evidence, f"{i.id}: needs key_facts, sources and evidence"
        for f in i.key_facts:
            assert any(fact_in(texts[s], f) for s in i.sources), f"{i.id}: key fact {f!r} not in its sources"

