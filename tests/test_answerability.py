"""qa/answerability.py: features of near misses and of evidence, and the fitted model's decision.

The evidence here is built by hand (no index): a question, passages and candidate sentences with the
entities ingest would have recorded, so each feature can be checked on its own general case.
"""
from types import SimpleNamespace

import numpy as np
import pytest

from ingest.models import Sentence
from qa.answerability import FEATURES, Model, decide, features, has_answer_type, order_agreement, premise_note
from qa.models import Candidate, Passage
from qa.question import analyze

pytestmark = pytest.mark.unit


def _res(doc_freq=None):
    return SimpleNamespace(chunk_ids=list(range(50)), doc_freq=lambda t: (doc_freq or {}).get(t, 3))


def _cand(text, ents=(), index=0, score=0.6, cos=0.6):
    s = Sentence("d1", "a.txt", "A", text, 0, len(text), index, sentence_id=f"s{index}", chunk_id="c1")
    return Candidate(s, np.zeros(4, dtype="float32"), 0, cos=cos, coverage=0.5, score=score, ents=tuple(ents))


def _passage(text):
    return Passage("d1", "a.txt", "A", text, 0, len(text), 0, chunk_id="c1", score=0.5, dense=0.6)


def _features(question, sentence, ents=(), passage=None):
    c = _cand(sentence, ents)
    return features(analyze(question), [_passage(passage or sentence)], [c], [c], _res())


def test_when_inside_a_question_does_not_ask_for_a_date():
    f = _features("What happens to workers when factories automate?", "Workers are retrained as operators.")
    assert f["type_expected"] == 0 and f["type_missing"] == 0


def test_answer_type_is_checked_on_the_quoted_sentences():
    q = analyze("When did the court rule?")
    dated = _cand("The court ruled in March 2025.", [("DATE", "March 2025")], index=1)
    undated = _cand("The court ruled against the firm.", [("ORG", "the firm")], index=2)
    p = [_passage(dated.text + " " + undated.text)]
    # Ranked first is the undated sentence; what counts is what would be quoted.
    assert features(q, p, [undated, dated], [dated], _res())["type_missing"] == 0
    assert features(q, p, [undated, dated], [undated], _res())["type_missing"] == 1


def test_an_entity_the_question_names_is_not_an_answer():
    q = analyze("besides Zhejiang, which other province tried the insurance?")
    assert not has_answer_type(q, _cand("Zhejiang tried the insurance.", [("GPE", "Zhejiang")]))
    assert has_answer_type(q, _cand("Jiangsu tried it too.", [("GPE", "Jiangsu")]))


def test_near_misses_number_ordinal_negation_order():
    f = _features("Who was the fourth son of Genghis Khan?", "Ogedei was the third son of Genghis Khan.",
                  [("PERSON", "Ogedei")])
    assert f["ordinal_differs"] == 1
    f = _features("What happened to 10,000 workers in 2024?", "In 2023, 5,000 workers were retrained.")
    assert f["numbers_differ"] == 1 and f["missing_numbers"] == 2
    # A negated question is a near-miss signal; a negated sentence is not (it is often the answer itself).
    assert _features("Why can't firms lay off workers?", "Firms lay off workers.")["question_negated"] == 1
    assert _features("What did the court rule?", "Firms can't just lay off workers.")["question_negated"] == 0
    swapped = order_agreement("who put motions on the questions", "the officer puts questions on the motions")
    assert swapped < order_agreement("who put questions on the motions", "the officer puts questions on the motions") == 1.0


def test_names_match_across_accents_and_demonyms():
    f = _features("What did Herve say about the Japanese approach?", "Hervé praised policies in Japan.")
    assert f["missing_names"] == 0
    f = _features("What did Pierre say about Korea?", "Hervé praised policies in Japan.")
    assert f["missing_names"] == 2


def test_a_name_misspelt_by_one_letter_is_not_missing():
    f = _features("What did the Kllbrandon report say about the Frensh army?",
                  "The Kilbrandon report praised the French army.")
    assert f["missing_names"] == 0
    # ...but a short name, or one two letters away, is another name
    f = _features("What did the Hughes report say about Austria?", "The Hugues report praised Australia.")
    assert f["missing_names"] == 1  # Austria (two letters from Australia); Hughes is one letter from Hugues


def test_names_that_never_share_a_sentence():
    q = analyze("What region of Peru is Cusco part of?")
    apart = [_cand("Cusco lies in the south of Bolivia.", index=0), _cand("Peru borders Bolivia.", index=1)]
    together = [_cand("Cusco is a region in southern Peru.", index=0)] + apart
    both = [_passage(" ".join(c.text for c in together))]
    assert features(q, both, apart, apart[:1], _res())["names_apart"] == 0.5
    assert features(q, both, together, together[:1], _res())["names_apart"] == 0.0
    compare = analyze("How does Peru differ from Bolivia?")  # a comparison's names sit in different sentences
    assert features(compare, both, apart, apart[:1], _res())["names_apart"] == 0.0


def test_model_refuses_at_its_threshold_and_says_why():
    spec = {"features": list(FEATURES), "mean": [0.0] * len(FEATURES), "scale": [1.0] * len(FEATURES),
            "coef": [3.0 if n == "missing_names" else 0.0 for n in FEATURES], "intercept": -1.0, "threshold": 0.5}
    q = analyze("What did Pierre say?")
    refused = decide(q, dict.fromkeys(FEATURES, 0.0) | {"missing_names": 1.0}, Model(spec))
    assert refused.refuse and "pierre" in refused.reason
    assert not decide(q, dict.fromkeys(FEATURES, 0.0), Model(spec)).refuse


def test_committed_model_lists_every_feature():
    from qa.answerability import load_model

    model = load_model()
    assert model is not None and set(model.names) == set(FEATURES) and 0 < model.threshold < 1


def test_premise_note_only_when_the_pair_never_meets():
    p = [_passage("A court in Hangzhou ruled that firms cannot simply replace their staff with software. Months "
                  "later, and far from any of those cases, officials in Beijing issued guidance on retraining.")]
    assert "Beijing court" in premise_note("Why did the Beijing court allow layoffs?", p)
    assert premise_note("Why did the Hangzhou court rule?", p) == ""


def test_a_percentage_or_a_price_is_not_answered_by_another_number():
    q = "What percentage of factory jobs will be automated by 2030?"
    f = _features(q, "By 2030, millions of factory jobs will be automated.", [("DATE", "2030"), ("CARDINAL", "millions")])
    assert f["type_missing"] == f["value_missing"] == 1
    assert _features(q, "About 30% of factory jobs will be automated by 2030.")["type_missing"] == 0  # NER missed it
    q = "How much does the insurance cost per worker?"
    assert _features(q, "The insurance covers 3 workers.", [("CARDINAL", "3")])["type_missing"] == 1
    assert _features(q, "The insurance costs 200 yuan per worker.")["type_missing"] == 0
    assert _features(q, "It costs $1,200 a year.")["type_missing"] == 0


def test_a_missing_date_or_amount_weighs_apart_from_a_missing_name():
    ruling = "A court ruled that firms can't lay off employees because AI is cheaper."
    f = _features("On what date did the court issue its ruling?", ruling, [("ORG", "court")])
    assert f["type_missing"] == f["value_missing"] == 1
    f = _features("On what date did the court issue its ruling?", "The court ruled on 3 May 2025.",
                  [("DATE", "3 May 2025")])
    assert f["type_missing"] == f["value_missing"] == 0
    f = _features("Who issued the ruling?", ruling)  # a name the small NER model may have missed
    assert f["type_missing"] == 1 and f["value_missing"] == 0


def test_a_negated_question_needs_a_sentence_that_states_a_negative():
    """"Which X did not Y?" asks for the complement of what an affirmative sentence says; a sentence with a
    negation can answer it, and a yes/no question ("Didn't ...?") may be answered by an affirmative one."""
    asks_complement = "Which suppliers did the ministry not approve?"
    assert _features(asks_complement, "The ministry approved three suppliers in May.")["negation_unmatched"] == 1
    assert _features(asks_complement, "The ministry never approved the two coastal suppliers.")[
        "negation_unmatched"] == 0
    assert _features("Which suppliers did the ministry approve?", "The ministry approved three suppliers.")[
        "negation_unmatched"] == 0
    yes_no = _features("Didn't the ministry approve the suppliers?", "The ministry approved three suppliers.")
    assert yes_no["question_negated"] == 1 and yes_no["negation_unmatched"] == 0
