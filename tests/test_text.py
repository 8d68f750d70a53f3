"""core/text.py: the one text module. Each case is a misfire of the old rules, as a general case."""
from pathlib import Path

import pytest

from core.text import (fact_tokens, lemma_set, lemmas, name_in, name_runs, names, near_word, negations, numbers,
                       one_edit, ordinals, sentence_spans, tokenize)

pytestmark = pytest.mark.unit


def test_lemmas_keep_related_words_apart():
    # A six-letter stem made employer = employee = employment and intern = internet.
    assert not lemmas("employer") & lemmas("employee")
    assert not lemmas("employee") & lemmas("employment")
    assert not lemmas("intern") & lemmas("internet")
    # ...while inflections still meet.
    assert lemmas("employers") & lemmas("employer")
    assert lemmas("ruled") & lemmas("ruling")
    assert lemmas("went") == frozenset({"go"})
    assert lemmas("policies") & lemmas("policy")


def test_unknown_words_keep_their_singular():
    assert "robotaxi" in lemmas("robotaxis")
    assert {"robotaxi", "graduate"} <= lemma_set("Robotaxis replace graduates")


def test_a_question_token_meets_its_plural_in_a_sentence():
    # tokenize() strips a plural 's' ("companies" -> "companie"); the token's lemmas must still meet the
    # sentence's, or every "-ies"/"-es" plural of a question counted as missing from the passages.
    for plural in ("companies", "strategies", "churches", "taxes", "processes", "buses", "jobs"):
        token, = tokenize(plural)
        assert lemmas(token) & lemma_set(f"The {plural} were listed."), plural
    assert lemmas(tokenize("Zhejiang")[0]) == frozenset({"zhejiang"})  # an unknown name stays itself


def test_one_edit_is_a_slip_of_the_keyboard():
    assert one_edit("kllbrandon", "kilbrandon") and one_edit("frensh", "french") and one_edit("form", "from")
    assert one_edit("celoron", "celeron") and one_edit("teh", "the") and one_edit("temur", "temurs")
    assert not one_edit("austria", "australia") and not one_edit("abcd", "badc")
    assert near_word("Frensh", frozenset({"french"})) and not near_word("Jon", frozenset({"jan"}))  # too short
    assert not near_word("Trench", frozenset({"french"}))  # another first letter: another word


def test_number_words_read_as_numbers():
    assert numbers("four of the 10,000 workers") == {"4", "10000"}
    assert numbers("2 firms") == numbers("two firms")
    assert numbers("one of them") == set()  # "one" is a pronoun far more often
    assert ordinals("the fourth son and the 3rd daughter") == {3, 4}
    assert fact_tokens("12.7 million") == fact_tokens("12,700,000")


def test_names_drop_quotes_and_match_accents_and_demonyms():
    assert names("is it 'the two Koreas' now?") == {"koreas"}  # not "koreas'"
    assert name_in("herve", "Hervé Beauséjour said") and name_in("beausejour", "Hervé Beauséjour said")
    assert name_in("japanese", "policies in Japan") and name_in("china", "Chinese firms")
    assert not name_in("austria", "a firm in Australia")
    assert name_runs("The Ministry of Human Resources and Social Security said") == [
        "Ministry of Human Resources and Social Security"]


def test_negation_is_read_not_dropped():
    assert negations("firms can't just lay off employees") == 1
    assert negations("firms can lay off employees") == 0
    assert negations("it never happened, not once") == 2
    # "not only / not just" adds emphasis; the sentence asserts what follows
    assert negations("the goal is to create roles, not just eliminate them") == 0
    assert negations("it is not only cheap but fast") == 0
    assert "not" not in tokenize("not a stopword-free word")  # tokenize drops it; negations() keeps count


def test_sentence_spans_are_exact_offsets():
    text = "Dr. Wang spoke. The U.S. firm agreed!\nA new line starts here"
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == ["Dr. Wang spoke.", "The U.S. firm agreed!", "A new line starts here"]


def test_or_not_offers_both_answers_and_twice_is_two():
    """"... or not?" and "whether or not" deny nothing; "twice" and "thrice" are numbers like "two" and "three"."""
    from core.text import negations, numbers

    assert negations("Is the plan working or not?") == 0
    assert negations("Firms must report whether or not they automate.") == 0
    assert negations("The plan is not working, or not yet.") == 1  # the first "not" still denies
    assert numbers("The hall was vacated twice.") == {"2"} and numbers("thrice") == {"3"}
    assert numbers("Once the law passed, firms hired.") == set()


def test_lemma_tables_kept_in_the_cache_are_the_packages_own(tmp_path, monkeypatch):
    """The marshal copy (no srsly import on a question's path) holds exactly what the msgpack file does;
    a corrupt or foreign copy is decoded again and rewritten."""
    import marshal

    import core.text as text

    monkeypatch.setenv("DOCQA_CACHE_DIR", str(tmp_path))
    text._lemma_tables.cache_clear()
    try:
        decoded = text._lemma_tables()  # no copy yet: decoded with srsly, then written
        (memo,) = tmp_path.glob("lemmas-*.marshal")
        good = memo.read_bytes()
        text._lemma_tables.cache_clear()
        assert text._lemma_tables() == decoded and len(decoded["noun"][0]) > 10_000
        for junk in (b"{broken", good[: len(good) // 2], marshal.dumps({"noun": 5}), marshal.dumps([1, 2])):
            memo.write_bytes(junk)
            text._lemma_tables.cache_clear()
            assert text._lemma_tables() == decoded and memo.read_bytes() == good, junk[:20]
    finally:
        text._lemma_tables.cache_clear()


@pytest.mark.integration
def test_entities_on_numpy_ops_are_spacys_own():
    """The recogniser runs on thinc's NumPy gemm (less CPU than blis): the same entities as the
    pipeline spaCy loads by default, on every sentence of the bundled corpus."""
    import spacy

    from core.text import SPACY_MODEL, entities, sentence_spans

    sents = []
    for f in sorted((Path(__file__).resolve().parent.parent / "corpus").glob("*.txt")):
        text = f.read_text(encoding="utf-8")
        sents += [text[a:b] for a, b in sentence_spans(text)]
    plain = spacy.load(SPACY_MODEL, exclude=["parser", "senter", "tagger", "attribute_ruler", "lemmatizer"])
    assert plain.get_pipe("ner").model.ops.use_blis  # the default this is compared with
    want = [[(e.label_, e.text) for e in d.ents] for d in plain.pipe(sents)]
    assert len(sents) > 100 and sum(map(len, want)) > 100
    assert entities(sents) == want
