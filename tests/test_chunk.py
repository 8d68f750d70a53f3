"""Chunk bounds, offsets, overlap, and the embedding model's 256-wordpiece window."""
from pathlib import Path

import pytest

from ingest.chunk import MODEL_MAX_WORDPIECES, chunk_document, count_tokens, count_wordpieces
from core.text import sentence_spans
from ingest.models import Document
from ingest.pipeline import prepare_document
from core.settings import Settings

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
MODEL = Settings().model_path


def _docs():
    return [prepare_document(p, CORPUS) for p in sorted(CORPUS.glob("*.txt"))]


@pytest.mark.unit
def test_sentence_split_keeps_offsets_and_abbreviations():
    text = "The U.S. economy grew. Dr. Smith said “no.” Then 12.7 million left!\n\nHeading\n\nLast one"
    spans = sentence_spans(text)
    parts = [text[s:e] for s, e in spans]
    assert parts == ["The U.S. economy grew.", "Dr. Smith said “no.”", "Then 12.7 million left!", "Heading",
                     "Last one"]


@pytest.mark.unit
@pytest.mark.parametrize("size,overlap", [(180, 30), (100, 20), (60, 0)])
def test_seed_chunks_within_bounds_and_offsets_exact(size, overlap):
    for doc in _docs():
        chunks, sentences = chunk_document(doc, size, overlap, MODEL)
        assert chunks and sentences
        for c in chunks:
            assert doc.text[c.start:c.end] == c.text
            assert count_tokens(c.text) <= size
            assert count_wordpieces(c.text, MODEL) <= MODEL_MAX_WORDPIECES
            assert c.doc_id == doc.doc_id and c.title == doc.title and c.source == doc.source
        for s in sentences:
            assert doc.text[s.start:s.end] == s.text
            assert any(c.chunk_id == s.chunk_id and c.start <= s.start and s.end <= c.end for c in chunks)
        # Every character of text is inside some chunk (nothing dropped between chunks).
        covered = set()
        for c in chunks:
            covered.update(range(c.start, c.end))
        assert all(i in covered or doc.text[i].isspace() for i in range(len(doc.text)))
        if overlap:
            assert any(b.start < a.end for a, b in zip(chunks, chunks[1:])), "no overlap between chunks"


@pytest.mark.unit
def test_chunk_ids_are_content_hashes():
    doc = _docs()[0]
    a, _ = chunk_document(doc, 180, 30, MODEL)
    b, _ = chunk_document(doc, 180, 30, MODEL)
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    changed = Document(doc.doc_id, doc.source, doc.path, doc.title, doc.text, "other-hash")
    c, _ = chunk_document(changed, 180, 30, MODEL)
    assert not {x.chunk_id for x in a} & {x.chunk_id for x in c}


@pytest.mark.unit
def test_wordpiece_guard_splits_dense_text():
    # Hyphenated codes are cheap in cl100k but expensive in wordpieces: tiktoken alone would overflow.
    text = " ".join(f"Code XQ-{i}-ZV-{i * 7}-KP was filed." for i in range(120))
    doc = Document("d", "d.txt", "/d.txt", "T", text, "h")
    chunks, _ = chunk_document(doc, 180, 30, MODEL)
    assert max(count_wordpieces(c.text, MODEL) for c in chunks) <= MODEL_MAX_WORDPIECES
    naive = text[: len(text) // 2]
    assert count_wordpieces(naive, MODEL) > MODEL_MAX_WORDPIECES


@pytest.mark.unit
def test_long_sentence_is_split():
    text = "word " * 900 + "end."
    doc = Document("d", "d.txt", "/d.txt", "T", text.strip(), "h")
    chunks, sentences = chunk_document(doc, 180, 30, MODEL)
    assert len(chunks) > 3
    assert all(count_tokens(c.text) <= 180 for c in chunks)


@pytest.mark.integration
def test_model_silently_truncates_past_256_wordpieces(embedder):
    """Why the guard exists: text past the window does not change the embedding at all."""
    import numpy as np

    base = " ".join(["The court ruled that firms cannot fire workers because AI is cheaper."] * 30)
    assert count_wordpieces(base, MODEL) > 256
    extra = base + " Completely different topic: volcanoes, penguins and medieval poetry."
    a, b = embedder.encode([base, extra])
    assert np.allclose(a, b, atol=1e-5)
