"""Answer, or say "the documents don't say": a small fitted model over general features.

``features`` measures, for a read question (``qa.question``) and its scored evidence, how well
the best sentences support it (cosine, lemma coverage of the question near the best sentence,
margins), what the question pins down that the passages lack (names, numbers, rare terms), and
near misses: the expected answer type (a date for "when", a person or organisation for "who"...)
absent from the sentences that would be quoted, a different number or ordinal, a negated question
(and one whose quoted sentences state no negative), the question's words in another order.
``Model`` is a logistic regression over them, fitted by ``eval/calibrate.py`` on the development
sets; its weights and operating point are the committed file ``qa/answerability.json``. Nothing here
names a question set's wording.
"""
from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from core.text import (is_heading, lemma_set, lemmas, name_in, near_word, negations, numbers, ordinals, word_set,
                       words)

from .extractive import idf
from .question import Question, mentions

MODEL_FILE = Path(__file__).with_name("answerability.json")
KINDS = ("person", "people", "organisation", "time", "place", "amount", "why", "how", "yesno", "what")
FEATURES = ("score", "cos", "coverage", "support", "passage_support", "margin", "dense", "heading",
            "missing", "missing_known", "missing_unknown", "missing_names", "missing_numbers",
            "type_expected", "type_missing", "value_missing", "numbers_differ", "ordinal_differs",
            "question_negated", "negation_unmatched", "order", "names_apart") + tuple(f"kind_{k}" for k in KINDS)
NEIGHBOURS = 1  # sentences either side of the best one that count as its context
TOP_CHECKED = 3  # quoted sentences whose entities may satisfy the answer type
NAMES_CHECKED = 10  # best-scored sentences searched for one that holds all the question's names
VALUE_KINDS = ("time", "amount")  # questions whose answer is a date or a quantity


@dataclass(frozen=True)
class Decision:
    """The model's verdict: refuse or not, the probability of "unanswerable", and why."""

    refuse: bool
    p: float
    reason: str = ""
    features: dict | None = None


def _idf(res, token: str) -> float:
    """The token's IDF over current chunks, scaled to [0, 1] (1: the corpus never uses it)."""
    n = max(1, len(res.chunk_ids))
    return idf(res.doc_freq(token), n) / idf(0, n)


def _coverage(weights: dict, lems: set) -> float:
    total = sum(weights.values()) or 1.0
    return sum(w for t, w in weights.items() if lemmas(t) & lems) / total


def _known_word(token: str) -> bool:
    """An English word spaCy's lemma tables know (else a name, code, typo or jargon)."""
    from core.text import _lemma_tables

    return any(token in index or token in exc for index, exc, _ in _lemma_tables().values())


# A number written as a percentage or a sum of money, for when the recogniser missed the entity;
# core.text.numbers reads the number out of the match, as it reads the question's.
_VALUE_OF = {frozenset({"PERCENT"}): re.compile(r"\d[\d.,]*\s*(?:%|percent\b|per cent\b)", re.I),
             frozenset({"MONEY"}): re.compile(r"(?:[$€£¥]|\b(?:us\$|rmb|cny|usd))\s?\d[\d.,]*|\d[\d.,]*\s*"
                                              r"(?:million\s+|billion\s+|thousand\s+)?(?:yuan|dollars?|euros?|"
                                              r"pounds?|rmb|usd|cny)\b", re.I)}


def has_answer_type(q: Question, cand) -> bool:
    """Whether a sentence holds an entity of the kind the question asks for, that it does not name."""
    if not q.expected:
        return True
    for label, text in getattr(cand, "ents", ()) or ():
        if label in q.expected and not mentions(q, text):
            return True
    if q.kind in ("amount", "time"):  # digits count even where the recogniser missed them
        pattern = _VALUE_OF.get(q.expected)
        found = numbers(cand.text) if pattern is None else \
            {n for m in pattern.finditer(cand.text) for n in numbers(m.group())}
        return bool(found - set(q.numbers))
    return False


def order_agreement(question: str, sentence: str) -> float:
    """Share of pairs of the question's content words that the sentence has in the same order.

    "who swore fealty to Charles" against "Charles swore fealty to Rollo" scores low: the
    same words, other roles. 1.0 when fewer than two words are shared.
    """
    from core.text import STOPWORDS

    pos: dict[str, int] = {}
    for i, w in enumerate(words(sentence)):
        for lem in lemmas(w):
            pos.setdefault(lem, i)
    seq = []
    for w in words(question):
        if w in STOPWORDS:
            continue
        at = [pos[lem] for lem in lemmas(w) if lem in pos]
        if at:
            seq.append(min(at))
    pairs = [(a, b) for i, a in enumerate(seq) for b in seq[i + 1:] if a != b]
    return sum(a < b for a, b in pairs) / len(pairs) if pairs else 1.0


def features(q: Question, passages, ranked, picks, res) -> dict[str, float]:
    """The model's inputs for one question (see FEATURES); all 0 when nothing was retrieved."""
    f = dict.fromkeys(FEATURES, 0.0)
    f[f"kind_{q.kind}"] = 1.0 if q.kind in KINDS else 0.0
    f["question_negated"] = float(q.negated)
    if not passages or not ranked:
        return f
    top = ranked[0]
    weights = {t: _idf(res, t) for t in q.tokens}
    near = [c.text for c in ranked if c.doc_id == top.doc_id and abs(c.index - top.index) <= NEIGHBOURS]
    passage = next((p.text for p in passages if p.chunk_id == top.chunk_id), top.text)
    all_text = " ".join(p.text for p in passages)
    all_lemmas = lemma_set(all_text)
    f.update(score=top.score, cos=top.cos, coverage=top.coverage, dense=max(p.dense for p in passages),
             support=_coverage(weights, lemma_set(" ".join(near))),
             passage_support=_coverage(weights, lemma_set(passage)),
             margin=top.score - next((c.score for c in ranked[1:] if c.text != top.text), 0.0),
             heading=float(is_heading(top.text) or len(top.text.split()) < 4))
    all_words = word_set(all_text)
    absent = [t for t in weights if not lemmas(t) & all_lemmas]
    f["missing"] = sum(weights[t] for t in absent) / (sum(weights.values()) or 1.0)
    f["missing_known"] = max((weights[t] for t in absent if res.doc_freq(t) > 0), default=0.0)
    f["missing_unknown"] = float(sum(1 for t in absent if res.doc_freq(t) == 0 and not t.isdigit()
                                     and not _known_word(t)))
    f["missing_names"] = float(sum(1 for n in q.names if not name_in(n, all_text) and not near_word(n, all_words)))
    f["missing_numbers"] = float(len(set(q.numbers) - numbers(all_text)))
    quoted = (picks or ranked)[:TOP_CHECKED]
    f["type_expected"] = float(bool(q.expected))
    f["type_missing"] = float(bool(q.expected) and not any(has_answer_type(q, c) for c in quoted))
    # Dates and amounts are tagged reliably; a person or place is often missed by the small NER model,
    # so the two kinds of missing type get their own weights.
    f["value_missing"] = f["type_missing"] * float(q.kind in VALUE_KINDS)
    top_numbers = numbers(top.text)
    f["numbers_differ"] = float(bool(q.numbers) and not set(q.numbers) <= top_numbers and bool(top_numbers))
    top_ordinals = ordinals(top.text)
    f["ordinal_differs"] = float(bool(q.ordinals) and bool(top_ordinals) and not set(q.ordinals) & top_ordinals)
    # "Where didn't X travel?" asks for the complement of what a passage affirms: only a sentence that
    # states a negative ("X never reached ...") can answer it. A yes/no question ("... or not?") can be
    # answered by an affirmative sentence.
    f["negation_unmatched"] = float(q.negated and q.kind != "yesno" and not any(negations(c.text) for c in quoted))
    f["order"] = order_agreement(q.text, top.text)
    # "What region of Japan is Hebei part of?": each name is in the passages, never two in one sentence.
    if len(q.names) >= 2 and q.shape not in ("compare", "list", "overview"):  # those span sentences by design
        held = max(sum(1 for n in q.names if name_in(n, c.text)) for c in ranked[:NAMES_CHECKED])
        f["names_apart"] = 1.0 - held / len(q.names)
    return f


class Model:
    """Logistic regression: standardised features -> P(unanswerable); refuse at or above ``threshold``."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.names = tuple(spec["features"])
        self.mean, self.scale = spec["mean"], spec["scale"]
        self.coef, self.intercept = spec["coef"], spec["intercept"]
        self.threshold = spec["threshold"]

    def contributions(self, f: dict) -> dict[str, float]:
        """Each feature's push towards refusing (log-odds)."""
        return {n: c * (f.get(n, 0.0) - m) / (s or 1.0)
                for n, m, s, c in zip(self.names, self.mean, self.scale, self.coef)}

    def probability(self, f: dict) -> float:
        z = self.intercept + sum(self.contributions(f).values())
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@functools.lru_cache(maxsize=4)
def load_model(path: str = str(MODEL_FILE)) -> Model | None:
    """The committed model (None when the file is missing: then nothing is refused on features)."""
    try:
        return Model(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError):
        return None


_REASONS = {
    "missing_names": "the passages never mention {names}",
    "missing_numbers": "the passages never mention {numbers}",
    "missing_unknown": "the passages never mention some of the question's terms",
    "missing_known": "the passages that match lack a key term of the question",
    "missing": "the passages lack much of what the question asks about",
    "type_missing": "the question asks for {kind}; the best sentences give none",
    "value_missing": "the question asks for {kind}; the best sentences give none",
    "numbers_differ": "the passages give other numbers than the question's",
    "ordinal_differs": "the passages speak of another one than the question's",
    "order": "the passages use the question's words in other roles",
}
_KIND_WORDS = {"person": "a name", "people": "a person", "organisation": "an organisation", "time": "a date",
               "place": "a place", "amount": "an amount"}


def decide(q: Question, f: dict, model: Model | None = None, threshold: float = 0.0) -> Decision:
    """Refuse when the model's P(unanswerable) reaches ``threshold`` (0: the model's own operating
    point); say which feature weighed most."""
    model = model or load_model()
    if model is None:
        return Decision(False, 0.0, "", f)
    p = model.probability(f)
    if p < (threshold or model.threshold):
        return Decision(False, p, "", f)
    contrib = model.contributions(f)
    top = max(contrib, key=contrib.get)
    template = _REASONS.get(top, f"the best evidence is too weak (score {f.get('score', 0):.2f})")
    reason = template.format(names=", ".join(sorted(q.names)) or "a name of the question",
                             numbers=", ".join(sorted(q.numbers)) or "a number of the question",
                             kind=_KIND_WORDS.get(q.kind, "something specific"))
    return Decision(True, p, reason, f)


# A name directly followed by the noun it qualifies, after a determiner: "the Beijing court",
# "its Huawei factories". Without the determiner the pattern caught verbs and adverbs ("did China
# privatize") and sentence-initial words ("By what year"): a premise note on 9 of 44 answerable
# seed_qa questions; with it, on none (tests/test_answer.py).
_NAME_NOUN = re.compile(r"\b(?i:the|a|an|this|that|these|those|its|their|his|her)\s+([A-Z][a-z]+)\s+([a-z]{4,})\b")
WINDOW = 8  # words: how close a name and its noun must be in a passage to count as "together"


def premise_note(question: str, passages) -> str:
    """A note when a "Name noun" pair of the question ("the Beijing court") never occurs together in
    the passages, though each does: the quotes are what the documents say, not the premise."""
    ws = [w.removesuffix("'s") for p in passages for w in words(p.text)]
    for name, noun in _NAME_NOUN.findall(question):
        name_l, noun_l = name.lower(), lemmas(noun.lower())
        at_name = [i for i, w in enumerate(ws) if w == name_l]
        at_noun = [i for i, w in enumerate(ws) if lemmas(w) & noun_l]
        if at_name and at_noun and not any(abs(a - b) <= WINDOW for a in at_name for b in at_noun):
            return (f"The documents do not mention a \"{name} {noun}\"; the quotes below are what they say, "
                    "which may contradict the question's premise.")
    return ""
