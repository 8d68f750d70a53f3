"""What a question asks for: its answer type, its shape, and the terms it pins down.

``analyze`` reads only the question (no model): the wh-word that opens its first clause gives
the expected kind of answer (who -> a person or organisation, when -> a date, how many -> an
amount...), cue words give its shape (a list, an explanation, a comparison, an overview, yes/no),
and ``core.text`` gives its names, numbers, ordinals and negations. Answering sizes the quote by
the shape; the answerability model checks the type and the pinned terms against the sentences.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.text import (AMOUNT_LIKE, PERSON_LIKE, PLACE_LIKE, TIME_LIKE, fold, lemma_set, lemmas, name_runs,
                       names, negations, numbers, ordinals, tokenize, words)

# The wh-word (or auxiliary) that opens a clause decides the type; a "when" inside the sentence
# ("what happens to workers when factories automate?") is a conjunction, not the question.
_OPENER = re.compile(r"(?:^|[,;:?!.]\s*|\b(?:and|but|or|so|then|also)\s+)"
                     r"(?:(?:in|on|at|by|for|from|to|since|until|of|with|about|during)\s+)?"
                     r"(who|whom|whose|when|where|why|how|what|which|can|will|(?:ca|wo)n['’]t|"
                     r"(?:is|are|was|were|do|does|did|could|should|would|has|have|had)(?:n['’]t)?)\b", re.I)
_TIME_NOUNS = r"year|date|day|month|century|decade|time|period|era|age|season|week|hour"
_AMOUNT_NOUNS = (r"percentage|percent|number|amount|share|proportion|rate|cost|price|sum|population|size|"
                 r"salary|wage|fine|budget|figure|total|quantity|count|value|length|height|weight|distance")
_PLACE_NOUNS = r"country|city|state|place|region|location|continent|town|river|island|nation|province|area|county"
_PEOPLE_NOUNS = (r"person|man|woman|people|employee|worker|author|writer|leader|king|queen|president|official|"
                 r"founder|ceo|chairman|minister|judge|scientist|artist|singer|player|son|daughter|wife|husband")
_ORG_NOUNS = (r"company|firm|organi[sz]ation|agency|group|court|ministry|party|team|university|newspaper|outlet|"
              r"institution|department|bank|government|school|band|club")
_AMOUNT_HOW = re.compile(r"\s+(many|much|long|old|far|large|big|high|often|fast|tall|deep|wide)\b")
_LIST = re.compile(r"\b(list|name (?:all|some|the)|what are (?:some|the)|which (?:are|were)|examples?|ways|steps|"
                   r"measures|strategies|factors|reasons|kinds|types)\b", re.I)
_EXPLAIN = re.compile(r"^\s*(why|how (?!many|much|long|old|far|large|big|high|often))|\b(explain|describe|reason)",
                      re.I)
_COMPARE = re.compile(r"\b(compare[sd]?|comparison|differ(?:ence|s|ent)?|versus|vs\.?|similar(?:ity|ities)?|"
                      r"contrast|unlike|both)\b", re.I)
_OVERVIEW = re.compile(r"\b(summari[sz]e|summary|overview|tl;?dr|gist|main (?:point|idea|argument)s?|"
                       r"(?:what|which) (?:are|is) (?:these|the|this|those) (?:articles?|documents?|pieces?|"
                       r"texts?|papers?|posts?)(?: \w+)? about|about what)\b", re.I)
_EXCLUDE = re.compile(r"\b(?:besides|apart from|other than|except(?: for)?|aside from)\s+([\w’'\- ]{2,40}?)"
                      r"(?=[,?.;]|\s+(?:which|what|who|where|when|how|is|are|do|does|did)\b|$)", re.I)
_WHOLE_CORPUS = re.compile(r"\b(these|the|all|those)\s+(articles|documents|pieces|texts|papers|posts|sources)\b",
                           re.I)

# Amounts of one kind: a percentage question is not answered by a head count, nor a price by a date.
# Only where the question says so unambiguously; everything else keeps the whole AMOUNT_LIKE family.
_PERCENT_Q = re.compile(r"\b(?:percentage|percent|per cent|proportion)\b", re.I)
_MONEY_HEAD = re.compile(r"\b(?:what|which)\s+(?:(?:is|was|are|were)\s+)?(?:(?:the|a|an|its|their)\s+)?(?:\w+\s+)?"
                         r"(?:salary|salaries|wage|wages|price|prices|cost|fine|budget|fee|fees|income|revenue)\b", re.I)
_MONEY_HOW = re.compile(r"\bhow\s+much\b(?:(?!\b(?:many|long|time)\b).)*\b(?:cost|costs|pay|pays|paid|earn|earns|"
                        r"earned|spend|spends|spent|charge|charges|charged|worth|invest|invested|raise|raised|"
                        r"money|funding|fine|fined)\b", re.I)
AMOUNT_OF = {"percent": frozenset({"PERCENT"}), "money": frozenset({"MONEY"})}
NOUN_WINDOW = 3  # words after "what"/"which" searched for the noun it asks about
EXPECTED = {"people": frozenset({"PERSON"}), "organisation": frozenset({"ORG", "NORP", "GPE"}), "person": PERSON_LIKE,
            "time": TIME_LIKE, "place": PLACE_LIKE, "amount": AMOUNT_LIKE}


@dataclass(frozen=True)
class Question:
    """A question, read: ``kind`` is what the answer names, ``shape`` how long it should be."""

    text: str
    kind: str  # person | people | organisation | time | place | amount | why | how | yesno | what | other
    shape: str  # factoid | list | explain | compare | overview
    expected: frozenset  # entity labels an answer sentence should hold (empty: any)
    names: frozenset  # proper-noun words (lowercased)
    name_phrases: tuple  # multi-word capitalised names ("Hangzhou Intermediate People's Court")
    numbers: frozenset
    ordinals: frozenset
    negated: bool
    excluded: tuple  # what "besides X" / "other than X" rules out, folded
    whole_corpus: bool  # "these articles": about every document, not one passage
    tokens: tuple  # content tokens (core.text.tokenize), in order
    lemmas: frozenset


def _only_verb(word: str) -> bool:
    """A word spaCy's lemma tables know as a verb and not as a noun ("happens", "caused")."""
    noun, verb = [set(), set()]
    tables = _tables()
    for pos, found in (("noun", noun), ("verb", verb)):
        index, exc, _ = tables.get(pos, (frozenset(), {}, []))
        found.update(lem for lem in lemmas(word) if lem in index or word in exc)
    return bool(verb) and not noun


def _tables() -> dict:
    from core.text import _lemma_tables

    return _lemma_tables()


def _kind(q: str) -> str:
    m = _OPENER.search(q)
    if not m:
        return "other"
    w, rest = m.group(1).lower(), q[m.end():].lower()
    if w in ("who", "whom", "whose"):
        return "person"
    if w in ("when", "where", "why"):
        return {"when": "time", "where": "place", "why": "why"}[w]
    if w == "how":
        return "amount" if _AMOUNT_HOW.match(rest) else "how"
    if w in ("what", "which"):
        # The noun the wh-word asks about: "what monthly wage", "what was the name of the employee".
        # A possessive is a determiner too: "what was China's youth unemployment rate" asks for a rate.
        head = re.sub(r"^\s+(?:(?:is|was|are|were)\s+)?(?:(?:the|a|an|[\w-]+['’]s?)\s+)?", " ", rest)
        head = re.sub(r"^\s*name\s+of\s+(?:(?:the|a|an)\s+)?", " ", head)
        head = re.findall(r"[\w'’-]+", head)[:NOUN_WINDOW]  # words only: "what is the rate?" ends in "rate"
        for n in head:
            if n == "name":
                return "person"
            for kind, pattern in (("time", _TIME_NOUNS), ("amount", _AMOUNT_NOUNS), ("place", _PLACE_NOUNS),
                                  ("people", _PEOPLE_NOUNS), ("organisation", _ORG_NOUNS)):
                if any(re.fullmatch(rf"(?:{pattern})s?", form) for form in (n, *lemmas(n))):
                    return kind
            if n in ("of", "to", "did", "does", "do", "is", "was", "are", "were", "has", "have", "will", "can") \
                    or _only_verb(n):
                break  # past the noun phrase the wh-word governs ("what happens to workers")
        return "what"
    return "yesno"


def amount_of(q: str, kind: str) -> str:
    """"percent" or "money" for an amount question that asks for one of them, else ""."""
    if kind != "amount":
        return ""
    if _PERCENT_Q.search(q):
        return "percent"
    return "money" if _MONEY_HOW.search(q) or _MONEY_HEAD.search(q) else ""


# "Which new job categories ...", "what measures ...": the words between the wh-word and the verb name a plural.
_WH_HEAD = re.compile(r"^\s*(?:which|what)\s+((?:[\w'’-]+\s+){0,3}?[\w'’-]+?)\s+"
                      r"(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should)\b", re.I)


def _plural_head(q: str) -> bool:
    m = _WH_HEAD.match(q)
    if not m:
        return False
    last = m.group(1).split()[-1].lower()
    return len(last) > 3 and last.endswith("s") and not last.endswith("ss") and last not in lemmas(last)


def _shape(q: str, kind: str) -> str:
    if _OVERVIEW.search(q):
        return "overview"
    if _COMPARE.search(q):
        return "compare"
    if _LIST.search(q) or _plural_head(q):
        return "list"
    if kind in ("why", "how") or _EXPLAIN.search(q):
        return "explain"
    return "factoid"


def analyze(question: str) -> Question:
    """Read ``question`` (cleaned, one line); see the module docstring."""
    kind = _kind(question)
    excluded = tuple(fold(m.group(1)).strip() for m in _EXCLUDE.finditer(question))
    return Question(
        text=question, kind=kind, shape=_shape(question, kind), expected=AMOUNT_OF.get(amount_of(question, kind), frozenset(EXPECTED.get(kind, ()))),
        names=frozenset(names(" " + question)), name_phrases=tuple(name_runs(question, min_words=2)),
        numbers=frozenset(numbers(question)), ordinals=frozenset(ordinals(question)),
        negated=negations(question) > 0, excluded=excluded, whole_corpus=bool(_WHOLE_CORPUS.search(question)),
        tokens=tuple(dict.fromkeys(tokenize(question))), lemmas=frozenset(lemma_set(question)))


# A second ask inside one question: after a "?" with more text, or ", and what/why/how..." (a wh-word,
# so "the pros and cons" or "how do X and Y differ" stay whole).
_PART_BREAK = re.compile(r"\?\s+(?=\S)|[,;]?\s+(?:and|but|also|plus)\s+(?=(?:what|why|how|when|where|who|whom|"
                         r"which|whose)\b)", re.I)
MIN_PART_WORDS = 3  # a shorter part ("when, and how many ...") runs on into the next one
# Every part must ask ("The term was applied to X, and which Y?" is one question, its first part a statement).
_ASKING = re.compile(r"^(?:(?:so|ok|okay|and|but|also|then|well|plus)\b[\s,]*)*(?:who|whom|whose|when|where|why|how|"
                     r"what|which|is|are|was|were|do|does|did|can|could|should|would|will|has|have|had)\b", re.I)


def parts(question: str) -> list[str]:
    """The separate asks of a multi-part question, in order ("which court ruled X, and what was its
    reasoning?" -> two); a one-part question gives itself. A break is kept only where the text before
    it (since the last kept break) and the text after it each have MIN_PART_WORDS words or more, so a
    short part ("when, and how many ...") runs on into the next."""
    out, begin = [], 0
    for m in _PART_BREAK.finditer(question):
        before, after = question[begin:m.start()].split(), question[m.end():].rstrip("?").split()
        if min(len(before), len(after)) >= MIN_PART_WORDS:
            out.append(question[begin:m.start()].strip(" ,;"))
            begin = m.end()
    out.append(question[begin:].strip(" ,;"))
    return out if len(out) > 1 and all(_ASKING.match(p) for p in out) else [question]


def mentions(q: Question, text: str) -> bool:
    """Whether ``text`` (an entity) is something the question itself names (so it is not an answer)."""
    t = fold(text)
    return bool(t) and (t in fold(q.text) or any(t in x or x in t for x in q.excluded if x))


def words_of(q: Question) -> list[str]:
    """Every word of the question, lowercased (for order and negation checks)."""
    return words(q.text)
