"""qa/question.py: answer type and shape from the question alone (general English, no set's wording)."""
import pytest

from qa.question import analyze, parts

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("question, kind", [
    ("What happens to workers when factories automate?", "what"),  # "when" inside is a conjunction
    ("When did the court rule?", "time"),
    ("In what year did the Normans conquer England?", "time"),
    ("Who benefits most from cheaper robots?", "person"),
    ("which ministry is preparing the policy", "organisation"),
    ("What was the name of the employee who sued?", "people"),
    ("How many graduates entered the job market?", "amount"),
    ("how long did the strike last", "amount"),
    ("Where were the servers hosted?", "place"),
    ("Why did France give up its lands?", "why"),
    ("How does the new rule work?", "how"),
    ("does guangdong come up anywhere?", "yesno"),
    ("ok so, who wrote it?", "person"),  # the wh-word opens a later clause
    ("What is the unemployment rate?", "amount"),  # the head noun ends the question, before its "?"
    ("What was Peru's youth literacy rate in 2020?", "amount"),  # a possessive is a determiner, like "the"
])
def test_kind(question, kind):
    assert analyze(question).kind == kind


@pytest.mark.parametrize("question, labels", [
    ("What percentage of the plants closed?", {"PERCENT"}),
    ("How much does the insurance cost each employer?", {"MONEY"}),
    ("what monthly wage do drivers earn", {"MONEY"}),
    ("How much money did the city raise?", {"MONEY"}),
    ("How many workers were paid less?", {"CARDINAL", "QUANTITY", "MONEY", "PERCENT"}),  # a count
    ("How much time did the move take?", {"CARDINAL", "QUANTITY", "MONEY", "PERCENT"}),
])
def test_an_amount_of_one_kind_expects_that_kind(question, labels):
    assert analyze(question).expected == labels


@pytest.mark.parametrize("question, shape", [
    ("what are these articles about?", "overview"),
    ("Summarise the piece on robotaxis", "overview"),
    ("How does the Japanese approach differ from China's?", "compare"),
    ("List the strategies the government uses", "list"),
    ("Why are investors cautious?", "explain"),
    ("Which court ruled on AI layoffs?", "factoid"),
    ("Which coastal cities have the river ports?", "list"),  # a plural between the wh-word and its verb
    ("What kind of policy is it?", "factoid"),
    ("What news agency was first?", "factoid"),
])
def test_shape(question, shape):
    assert analyze(question).shape == shape


def test_pinned_terms():
    q = analyze("besides Zhejiang, which other province tried the fourth plan in 2025 without subsidies?")
    assert q.kind == "place" and q.excluded == ("zhejiang",)
    assert q.numbers == {"2025"} and q.ordinals == {4} and q.negated
    assert analyze("what do these articles say about jobs?").whole_corpus
    assert not analyze("what does the article say about jobs?").whole_corpus


def test_a_negated_auxiliary_opens_a_yes_no_question():
    """"Didn't ...?", "Can't ...?", "Isn't ...?" ask yes or no, as "Did ...?" does; the negation is kept."""
    for q in ("Didn't the ministry approve the suppliers?", "Can’t firms lay off workers?", "Isn't AI cheaper?"):
        got = analyze(q)
        assert (got.kind, got.negated) == ("yesno", True), q
    assert analyze("Why didn't firms hire?").kind == "why"


@pytest.mark.parametrize("question, expected", [
    ("Who founded the company, and when did it go public?", ["Who founded the company", "when did it go public?"]),
    ("Is the bridge open? How much is the toll?", ["Is the bridge open", "How much is the toll?"]),
    ("who were the first settlers and why did they leave", ["who were the first settlers", "why did they leave"]),
    ("What are the pros and cons of remote work?", None),  # "and" between nouns: one ask
    ("How do France and Spain differ?", None),
    ("The treaty was signed by France, and which other country?", None),  # the first part states, it doesn't ask
    ("When did the war end and why?", None),  # "why" alone is too short to be a part
    ("has the town flooded before? when, and how many homes were lost?",
     ["has the town flooded before", "when, and how many homes were lost?"]),  # a short part runs on
])
def test_parts_of_a_multi_part_question(question, expected):
    assert parts(question) == (expected or [question])
