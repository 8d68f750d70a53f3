"""Ingestion values: a cleaned ``Document`` and its ``Chunk``s and ``Sentence``s. Ids come from content hashes.

What answering produces (``Passage``, ``Candidate``, ``Citation``, ``Answer``) lives in ``qa/models.py``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass


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
class Span:
    """A stretch of a document's cleaned text: ``doc.text[start:end] == text``."""

    doc_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    index: int  # position in the document (chunk number, or sentence number)


@dataclass(frozen=True)
class Chunk(Span):
    """A unit of retrieval: sentences packed up to ``chunk_size`` tokens."""

    chunk_id: str = ""
    n_tokens: int = 0


@dataclass(frozen=True)
class Sentence(Span):
    """A sentence of a chunk (the first chunk that holds it), the unit of quoting."""

    sentence_id: str = ""
    chunk_id: str = ""
