"""When to say "the documents don't say": weak evidence, or key terms the passages lack.

``assess`` combines
- the evidence score: the best candidate sentence's score (cosine + coverage),
  refused below ``settings.refusal_threshold`` (calibrated by ``eval.calibrate``);
- key terms: every number and name of the question must occur in the retrieved passages;
- the answer type: "how many / how much / what percentage / what fine" needs a
  number and "when / what date" a date the question did not already give, in
  the sentences that would be the answer.
It also spots a false premise of the "Beijing court" kind: a name + noun pair
of the question that never occur together in the passages. That is not a
refusal (the quotes never assert the premise) but a note on the answer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.text import name_runs, names, numbers, stem

_QUANTITY = re.compile(
    r"\b(how (many|much)|what (percentage|percent|share|proportion|number|amount|fine|rate|salary|wage|cost|price|"
    r"sum|budget|figure)|which (percentage|amount|fine)|(monthly|annual|average|unemployment) (wage|salary|rate)|"
    r"how (large|big|long|old)|fine did)\b", re.I)
_DATE = re.compile(r"\b(when|what (date|day|month|year)|which (date|day|month|year)|on what date|in what year)\b", re.I)
_MONTHS = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|"
                     r"December)\b")
_NUMWORD = re.compile(r"\b(million|billion|thousand|hundred|dozens?|percent)\b|%", re.I)
# A name directly followed by the noun it qualifies, after a determiner: "the Beijing court",
# "its Huawei factories". Without the determiner the pattern caught verbs and adverbs ("did China
# privatize", "Technology reportedly") and sentence-initial words ("By what year"): a premise note
# on 9 of 44 answerable seed questions; with it, on none (tests/test_answer.py).
_NAME_NOUN = re.compile(r"\b(?i:the|a|an|this|that|these|those|its|their|his|her)\s+([A-Z][a-z]+)\s+([a-z]{4,})\b")
# "the name of the employee", "who sued": a person or organisation the question does not name yet.
_NAME_Q = re.compile(r"\b(what (is|was) the name of|who (is|was|were|sued|said|founded|leads|led))\b", re.I)
_TITLE_Q = re.compile(r"\b(what|which) (is|was) the (title|name) of the (policy|document|report|law|book|plan|"
                      r"programme|program|article|paper)\b", re.I)
_QUOTED_TITLE = re.compile(r"[\"“‘'][A-Z][^\"”’]{3,}[\"”’]")
WINDOW = 8  # words: how close a name and its noun must be in a passage to count as "together"


@dataclass
class Decision:
    refuse: bool
    reason: str = ""
    evidence: float = 0.0
    premise_note: str = ""
    missing: list[str] = field(default_factory=list)


def _passage_words(passages) -> list[str]:
    return [w.lower().replace("’", "'") for p in passages for w in re.findall(r"[\w’']+", p.text)]


def _together(name: str, noun: str, words: list[str]) -> bool:
    name, noun_s = name.lower(), stem(noun.lower())
    pos_name = [i for i, w in enumerate(words) if w.removesuffix("'s") == name]
    pos_noun = [i for i, w in enumerate(words) if stem(w) == noun_s]
    return any(abs(a - b) <= WINDOW for a in pos_name for b in pos_noun)


def missing_terms(question: str, passages) -> list[str]:
    """Numbers and names of the question that no retrieved passage holds.

    Other words are not required: a word the passages lack is usually a paraphrase
    ("cushion", "summarize"); on eval/seed_qa.jsonl requiring rare corpus words refused
    7 answerable questions and no unanswerable one the other rules missed.
    """
    text = " ".join(p.text for p in passages)
    low = text.lower().replace("’", "'")
    miss = [n for n in numbers(question) if n not in numbers(text)]
    miss += [n for n in names(" " + question) if n not in low]
    return sorted(set(miss))


def premise_note(question: str, passages) -> str:
    """A note when a "Name noun" pair of the question never occurs together in the passages."""
    words = _passage_words(passages)
    for name, noun in _NAME_NOUN.findall(question):
        if name.lower() in {"what", "which", "why", "how", "who", "when", "where", "does", "did", "is", "are"}:
            continue
        if name.lower() in words and any(stem(w) == stem(noun.lower()) for w in words) \
                and not _together(name, noun, words):
            return (f"The documents do not mention a \"{name} {noun}\"; the quotes below are what they say, "
                    "which may contradict the question's premise.")
    return ""


def _needs_new_number(question: str, answer_texts: list[str], date: bool) -> bool:
    """True when the answer sentences hold no number (or date) the question did not give."""
    q_nums = numbers(question)
    for t in answer_texts:
        new = numbers(t) - q_nums
        if date and (new or _MONTHS.search(t)):
            return False
        if not date and (new or (_NUMWORD.search(t) and numbers(t))):
            return False
    return True


def _needs_new_name(question: str, answer_texts: list[str]) -> bool:
    """True when no answer sentence names someone (two capitalised words) the question does not."""
    q_words = set(re.findall(r"[\w’']+", question.lower()))
    for t in answer_texts:
        for run in name_runs(t, min_words=2):
            # "Hangzhou Intermediate People's Court" is the court the question named, not a new name.
            if not set(re.findall(r"[\w’']+", run.lower())) & q_words:
                return False
    return True


def assess(question: str, passages, ranked, threshold: float,
           top: int = 3) -> Decision:
    """Refuse or not, given the retrieved ``passages`` and scored candidate sentences ``ranked``."""
    if not passages or not ranked:
        return Decision(True, "nothing relevant was retrieved")
    evidence = ranked[0].score
    miss = missing_terms(question, passages)
    if miss:
        return Decision(True, "the passages never mention " + ", ".join(miss), evidence, missing=miss)
    if evidence < threshold:
        return Decision(True, f"the best evidence is too weak ({evidence:.2f} < {threshold:.2f})", evidence)
    answer_texts = [c.text for c in ranked[:top]]
    if _QUANTITY.search(question) and _needs_new_number(question, answer_texts, date=False):
        return Decision(True, "the question asks for an amount the passages do not give", evidence)
    if _DATE.search(question) and _needs_new_number(question, answer_texts, date=True):
        return Decision(True, "the question asks for a date the passages do not give", evidence)
    if _TITLE_Q.search(question) and not any(_QUOTED_TITLE.search(t) for t in answer_texts):
        return Decision(True, "the question asks for a title the passages do not give", evidence)
    if _NAME_Q.search(question) and _needs_new_name(question, answer_texts):
        return Decision(True, "the question asks for a name the passages do not give", evidence)
    return Decision(False, "", evidence, premise_note(question, passages))
