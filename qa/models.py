"""Answering values: a retrieved ``Passage``, a scored ``Candidate`` sentence, and the cited ``Answer``.

The ingestion side (``Document``, ``Chunk``, ``Sentence``) is in ``ingest/models.py``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter

from ingest.models import Sentence, Span


@dataclass(frozen=True)
class Passage(Span):
    """A retrieved chunk with its fused score (higher is better); ``index`` is the chunk's number."""

    chunk_id: str = ""
    score: float = 0.0
    dense: float = 0.0  # cosine similarity to the query, when dense retrieval found it
    lexical: float = 0.0  # BM25 score, when lexical retrieval found it
    sentence_ids: tuple[str, ...] = ()  # its sentences' ids (indexes written before they were recorded: empty)


@dataclass
class Candidate:
    """A stored sentence of a retrieved chunk, with its scores for this question.

    The sentence's own fields (``text``, ``start``, ``chunk_id``...) read through to ``sentence``.
    """

    sentence: Sentence
    vec: object  # its stored embedding
    passage_rank: int  # rank of the passage it came from
    cos: float = 0.0
    coverage: float = 0.0
    score: float = 0.0
    ents: tuple | None = None  # (label, text) entities recorded at ingest; None: the index has none


def _read_through(name: str) -> property:
    return property(attrgetter(f"sentence.{name}"), doc=f"The sentence's ``{name}``.")  # C: ~0.1 us a read


# Properties, not __getattr__: a failed lookup before the fallback cost ~0.6 ms an answer (800 reads).
for _field in fields(Sentence):
    setattr(Candidate, _field.name, _read_through(_field.name))


@dataclass(frozen=True)
class Citation:
    """One cited passage: ``quote`` equals the cleaned text at [start, end)."""

    n: int
    source: str
    title: str
    quote: str
    start: int
    end: int
    chunk_id: str = ""
    context: str = ""  # the surrounding chunk text, for highlighting
    context_start: int = 0
    score: float = 0.0

    def to_json(self) -> dict:
        """What ``docqa ask --json`` shows of a citation."""
        return {"n": self.n, "source": self.source, "title": self.title, "quote": self.quote,
                "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Answer:
    """What ``qa.answer`` returns."""

    question: str
    text: str
    citations: tuple[Citation, ...]
    refused: bool
    mode: str
    timings_ms: dict = field(default_factory=dict, hash=False, compare=False)
    related: tuple[Citation, ...] = ()  # shown when refused: "related, but not an answer"
    flagged: tuple[str, ...] = ()  # llm sentences removed for lack of support
    note: str = ""  # e.g. "LLM unreachable; extractive answer shown"

    def to_json(self) -> dict:
        """The ``docqa ask --json`` object."""
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "mode": self.mode,
            "citations": [c.to_json() for c in self.citations],
            "related": [c.to_json() for c in self.related],
            "flagged": list(self.flagged),
            "note": self.note,
            "timings_ms": dict(self.timings_ms),
        }
