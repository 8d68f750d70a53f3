"""Core values, in one place. Ids come from content hashes."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


def content_id(*parts: str, n: int = 16) -> str:
    """A stable id: the sha256 of the parts, truncated to ``n`` hex digits."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:n]


@dataclass(frozen=True)
class Document:
    """A cleaned document. ``text`` is what every offset points into."""

    doc_id: str  # stable per source path
    source: str  # file name relative to the corpus dir
    path: str  # absolute path at ingest time
    title: str
    text: str  # cleaned text
    content_hash: str  # sha256 of the raw file bytes


@dataclass(frozen=True)
class Chunk:
    """A span of a document's cleaned text: ``doc.text[start:end] == text``."""

    chunk_id: str
    doc_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    index: int  # position in the document
    n_tokens: int


@dataclass(frozen=True)
class Sentence:
    """A sentence of a chunk, with offsets into the document's cleaned text."""

    sentence_id: str
    chunk_id: str
    doc_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    index: int  # position in the document


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its fused score (higher is better)."""

    chunk_id: str
    doc_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    score: float
    dense: float = 0.0  # cosine similarity to the query, when dense retrieval found it
    lexical: float = 0.0  # BM25 score, when lexical retrieval found it
    sentence_ids: tuple[str, ...] = ()  # its sentences' ids (indexes written before they were recorded: empty)


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
            "citations": [
                {"n": c.n, "source": c.source, "title": c.title, "quote": c.quote,
                 "start": c.start, "end": c.end}
                for c in self.citations
            ],
            "related": [
                {"n": c.n, "source": c.source, "title": c.title, "quote": c.quote,
                 "start": c.start, "end": c.end}
                for c in self.related
            ],
            "flagged": list(self.flagged),
            "note": self.note,
            "timings_ms": dict(self.timings_ms),
        }
