"""Answers on the real seed index: facts present, right article cited, quotes exact, refusals honest."""
import json

import pytest

from core.errors import InputError
from qa.answer import answer, clean_question

pytestmark = pytest.mark.integration

FACTS = [  # (question, fact that must be in the answer, source that must be cited) -- one or more per seed
    ("How many university graduates entered China's job market in 2026?", "12.7 million", "001_"),
    ("Which court ruled that firms cannot lay off employees just because an AI system can do the job cheaper?",
     "Hangzhou Intermediate People’s Court", "001_"),
    ("What term is President Xi Jinping promoting to signal China's pivot toward high technology?",
     "New Quality Productive Forces", "002_"),
    ("Which tech giants partner with local governments in Guangdong and Jiangsu to train factory workers?",
     "Huawei", "003_"),
    ("Which policy's legacy created China's demographic imbalance?", "one-child policy", "003_"),
    ("What does China invest heavily in to reskill workers who are vulnerable to automation?",
     "vocational training", "000_"),
]

UNANSWERABLE = [
    "On what date did the Hangzhou Intermediate People's Court issue its AI layoff ruling?",
    "What was the name of the employee who sued in the Hangzhou AI layoff case?",
    "How many robotaxis does each remote safety operator monitor?",
    "What fine did the Hangzhou court impose on Alibaba for replacing its staff with AI?",
    "What is the capital of Australia?",
]


def _cleaned(settings, source):
    from ingest.embed import get_embedder
    from ingest.store import open_store

    emb = get_embedder(settings.model_path)
    store = open_store(settings, emb.name, emb.dim)
    rec = next(r for r in store.records().values() if r.source == source)
    return store.document_text(rec.doc_id)


@pytest.mark.parametrize("question,fact,source", FACTS)
def test_factual_answer_contains_fact_and_cites_right_article(seed_settings, embedder, question, fact, source):
    ans = answer(question, settings=seed_settings, embedder=embedder)
    assert not ans.refused, ans.note
    norm = lambda s: s.replace("’", "'").lower()  # noqa: E731
    assert norm(fact) in norm(ans.text)
    assert ans.citations and any(c.source.startswith(source) for c in ans.citations)
    for c in ans.citations:  # every quote is the cleaned text at its offsets
        assert _cleaned(seed_settings, c.source)[c.start:c.end] == c.quote
        assert f"[{c.n}]" in ans.text
    assert ans.mode == "extractive" and ans.timings_ms["total"] > 0


def test_every_answer_sentence_carries_a_citation(seed_settings, embedder):
    ans = answer("What are local authorities in Zhejiang experimenting with to cushion AI automation?",
                 settings=seed_settings, embedder=embedder)
    import re

    parts = [p for p in re.split(r"\[\d+\]", ans.text)]
    assert len(parts) == len(ans.citations) + 1 and not parts[-1].strip()
    for c in ans.citations:
        assert c.quote in ans.text


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_unanswerable_questions_are_refused_with_related_passages(seed_settings, embedder, question):
    ans = answer(question, settings=seed_settings, embedder=embedder)
    assert ans.refused, ans.text
    assert "don't say" in ans.text and not ans.citations
    if "Australia" not in question:
        assert ans.related  # the closest passages, shown as "related, but not an answer"


def test_each_part_of_a_multi_part_question_is_answered(seed_settings, embedder):
    # Two unrelated asks: judged whole, neither part covers the other's words and the question was refused.
    ans = answer("How many graduates entered the job market in 2026? And which tech companies train factory workers?",
                 settings=seed_settings, embedder=embedder)
    assert not ans.refused
    assert "12.7 million" in ans.text and "Huawei" in ans.text
    assert len(ans.citations) >= 2


def test_a_part_the_documents_dont_answer_is_named_and_the_rest_answered(seed_settings, embedder):
    ans = answer("How many graduates entered the job market in 2026, and what did Apple announce in Berlin?",
                 settings=seed_settings, embedder=embedder)
    assert not ans.refused and "12.7 million" in ans.text
    assert 'don\'t say: "what did Apple announce in Berlin?"' in ans.note
    # A part that points back at an unanswered one ("what does he do") is not answered on its own.
    ans = answer("Who founded the Mars colony on Europa, and what does he do for a living?",
                 settings=seed_settings, embedder=embedder)
    assert ans.refused


def test_false_premise_is_not_answered_as_true(seed_settings, embedder):
    ans = answer("Why did the Beijing court rule that companies may replace workers with AI?",
                 settings=seed_settings, embedder=embedder)
    # Either a refusal, or quotes of what the court actually ruled plus a note on the premise.
    assert ans.refused or ("Hangzhou" in ans.text and "Beijing court" in ans.note)


def test_no_premise_note_on_questions_with_a_true_premise(seed_settings, embedder):
    from pathlib import Path

    from eval.evalset import load_evalset

    items, _ = load_evalset(Path(__file__).resolve().parent.parent / "eval" / "seed_qa.jsonl")
    plain = [i for i in items if i.type not in ("adversarial", "followup") and not i.unanswerable]
    assert len(plain) >= 30
    noted = {i.id: a.note for i in plain
             if "do not mention" in (a := answer(i.question, settings=seed_settings, embedder=embedder)).note}
    assert noted == {}


def test_followup_resolves_its_pronoun(seed_settings, embedder):
    history = [{"role": "user", "content": "Which court ruled that firms can't lay off employees because AI "
                                           "can do their job cheaper?"},
               {"role": "assistant", "content": "The Hangzhou Intermediate People’s Court [1]"}]
    q = "What does that ruling require companies to prioritize instead?"
    with_history = answer(q, history=history, settings=seed_settings, embedder=embedder)
    assert not with_history.refused
    assert "retraining" in with_history.text.lower() or "reassignment" in with_history.text.lower()


@pytest.mark.parametrize("bad", ["", "   \n\t", "?!?...", None, 42])
def test_bad_questions_are_one_line_errors(bad):
    with pytest.raises(InputError) as e:
        clean_question(bad)
    assert "\n" not in str(e.value) and "question" in str(e.value)


def test_huge_question_is_truncated_with_note(seed_settings, embedder):
    ans = answer("graduates job market " * 20000, settings=seed_settings, embedder=embedder)
    assert "truncated" in ans.note


def test_cli_ask_json_shape(seed_settings, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DOCQA_CORPUS_DIR": str(seed_settings.corpus_dir),
           "DOCQA_INDEX_DIR": str(seed_settings.index_dir)}
    hist = tmp_path / "h.json"
    hist.write_text(json.dumps([{"role": "user", "content": "Tell me about the Hangzhou court ruling."}]))
    r = subprocess.run([sys.executable, "-m", "docqa", "ask", "What must companies prioritize under that "
                        "ruling?", "--json", "--history", str(hist)], env=env, capture_output=True, text=True,
                       cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)  # exactly one JSON object
    assert {"question", "answer", "refused", "mode", "citations", "timings_ms"} <= set(obj)
    for c in obj["citations"]:
        assert {"n", "source", "title", "quote", "start", "end"} <= set(c)
        assert "/" not in c["source"]


def test_list_lead_in_brings_its_items_and_headings_are_not_quoted(seed_settings, embedder):
    ans = answer("Which new job categories is AI generating in China?", settings=seed_settings, embedder=embedder)
    assert not ans.refused
    assert "Data Annotators" in ans.text and "Prompt Engineers" in ans.text  # bullet items of the list
    from core.text import is_heading

    assert not any(is_heading(c.quote) for c in ans.citations)
    assert is_heading("Experts Recommend Policies to Ensure AI Benefits Inclusive Economic Growth")
    assert not is_heading("- Establishing regional AI innovation zones equipped with infrastructure")
    assert not is_heading("Key strategies deployed include:")


def test_overview_question_quotes_each_documents_lead(seed_settings, embedder):
    ans = answer("what are these articles about?", settings=seed_settings, embedder=embedder)
    assert not ans.refused and "overview" in ans.note
    assert len({c.source for c in ans.citations}) == 4  # every article of the corpus, not one passage
    one = answer("Summarise the piece on robotaxis and remote safety operators", settings=seed_settings,
                 embedder=embedder)
    assert not one.refused and len({c.source for c in one.citations}) == 1


def test_summary_of_one_document_quotes_its_lead_and_its_central_statements(seed_settings, embedder):
    from core.text import is_bullet
    from qa.select import LEAD_SENTENCES, SUMMARY_SENTENCES

    one = answer("Summarise the piece on robotaxis and remote safety operators", settings=seed_settings,
                 embedder=embedder)
    starts = [c.start for c in one.citations]
    assert LEAD_SENTENCES < len(one.citations) <= SUMMARY_SENTENCES  # more than the two opening sentences
    assert starts == sorted(starts) and len(set(starts)) == len(starts)  # in reading order, none twice
    assert not any(is_bullet(c.quote) for c in one.citations[LEAD_SENTENCES:])
    lead = answer("what are these articles about?", settings=seed_settings, embedder=embedder)
    first = next(c for c in lead.citations if c.source == one.citations[0].source)
    assert one.citations[0].quote == first.quote  # it opens with the document's lead


def test_answer_size_follows_the_question(seed_settings, embedder):
    factoid = answer("Which news agency reported the policy document?", settings=seed_settings, embedder=embedder)
    listing = answer("List the strategies China uses to protect jobs from automation", settings=seed_settings,
                     embedder=embedder)
    assert not factoid.refused and not listing.refused
    assert len(factoid.citations) <= 2 < len(listing.citations)


def test_index_without_entities_says_how_to_upgrade(make_settings, embedder):
    """An index written before entities were recorded still answers, with a one-line note to re-ingest."""
    from ingest.pipeline import run_ingest
    from ingest.store import open_store

    s = make_settings()
    run_ingest(s, progress=False, embedder=embedder)
    store = open_store(s, embedder.name, embedder.dim)
    got = store.chunks.get(include=["metadatas"])
    metas = [{**m, "sentence_ents": json.dumps([None] * len(json.loads(m["sentence_spans"])))}
             for m in got["metadatas"]]
    store.chunks.update(ids=got["ids"], metadatas=metas)  # what an older docqa wrote: no entities recorded
    ans = answer("Which court ruled on AI layoffs?", settings=s, embedder=embedder)
    assert "records no entities" in ans.note and "docqa ingest" in ans.note and "\n" not in ans.note
