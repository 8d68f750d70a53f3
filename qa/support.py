"""Does a passage support a sentence? The same text features answering uses, plus embedding cosine.

Used on every sentence an LLM writes: a sentence that adds names or numbers the passage lacks,
flips its negation, or shares too little with it, is not shown as cited fact. ``looks_like_instruction``
spots text addressed to an assistant: it is kept out of what the LLM reads and of what it may say.
"""
from __future__ import annotations

import re

from core.text import lemma_set, lemmas, name_in, names, negations, numbers, sentences, tokenize

# Text addressed to an assistant rather than a reader: a planted prompt injection.
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(previous|prior|above|earlier|all|your)\b.{0,20}"
    r"\b(instructions?|prompts?|rules?|directions?)\b|\byou are now\b|\b(system|developer) prompt\b|"
    r"\b(reply|respond|answer|say|print|output)\s+(?:only|exactly|with only)\s*(?:with|in|using|as|the words?|[:\"“])|"
    r"\bas an ai (assistant|model)\b",
    re.I | re.S)

MIN_OVERLAP = 0.5  # share of the sentence's content words found in the passage
MIN_COSINE = 0.45  # best cosine between the sentence and one passage sentence
MIN_SCORE = 0.6  # their mean


def overlap(sentence: str, passage_text: str) -> float:
    """Share of the sentence's content words whose lemmas occur in the passage."""
    have = lemma_set(passage_text)
    ws = tokenize(sentence)
    return sum(1 for w in ws if lemmas(w) & have) / len(ws) if ws else 0.0


def best_cosine(sentence: str, passage_text: str, embedder) -> tuple[float, int]:
    """(best cosine, index) of ``sentence`` against the passage's sentences."""
    import numpy as np

    parts = sentences(passage_text) or [passage_text]
    vecs = embedder.encode([sentence] + parts)
    sims = vecs[1:] @ vecs[0]
    i = int(np.argmax(sims))
    return float(sims[i]), i


def is_supported(sentence: str, passage_text: str, embedder) -> tuple[bool, float]:
    """(supported, score in [0, 1]) of ``sentence`` given ``passage_text``.

    Supported means: every number (digits or words) and proper name of the sentence occurs in
    the passage (accents folded), the sentence is negated exactly when the passage sentence
    closest to it is ("firms can lay off" is not supported by "firms can't just lay off"), at
    least half its content words occur (by lemma) in that sentence or its neighbours, its best
    cosine to one passage sentence is at least MIN_COSINE, and the mean of those two is at
    least MIN_SCORE.
    """
    if not tokenize(sentence) or not passage_text.strip():
        return False, 0.0
    cos, i = best_cosine(sentence, passage_text, embedder)
    # Words scattered across a whole chunk prove little: the claim must be covered by the passage
    # sentence it is closest to and that sentence's neighbours.
    parts = sentences(passage_text) or [passage_text]
    lex = overlap(sentence, " ".join(parts[max(0, i - 1): i + 2]))
    score = max(0.0, min(1.0, 0.5 * lex + 0.5 * cos))
    facts_ok = numbers(sentence) <= numbers(passage_text) and all(name_in(n, passage_text) for n in names(sentence))
    same_polarity = (negations(sentence) > 0) == (negations(parts[min(i, len(parts) - 1)]) > 0)
    ok = facts_ok and same_polarity and lex >= MIN_OVERLAP and cos >= MIN_COSINE and score >= MIN_SCORE
    return ok, score


def looks_like_instruction(text: str) -> bool:
    """True for text that addresses an AI assistant ("ignore previous instructions", "reply only ...").

    Such a sentence in a document is data, never a command and never support for an answer.
    """
    return bool(_INSTRUCTION.search(text or ""))
