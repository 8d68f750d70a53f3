"""Late chunking: a chunk's vector and its sentences' vectors from ONE forward pass over the chunk.

Today every chunk and every sentence is encoded on its own (about 6 texts a chunk). Here the chunk is
encoded once; its vector is the mean of all its token states (exactly the standalone chunk vector), and
each sentence's vector is the mean of the states of the tokens inside that sentence's character span
(the tokenizer's offsets), L2-normalised. Those sentence vectors carry the chunk's context, so they are
not the standalone ones: bench/encoders.md gives their cosine to the reference, and the ingest mode that
uses them is named ``LATE`` ("late", ingest/encoders.py). Chunks fit the 256-wordpiece window
(chunk.py), so no sentence is cut off; one that got no token (blank, or past a window) is encoded alone.
"""
from __future__ import annotations

import numpy as np


Span = tuple[int, int]


def _normalise(v: np.ndarray) -> np.ndarray:
    return (v / np.clip(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12, None)).astype(np.float32)


def pool_spans(states: np.ndarray, offsets: list[Span], special: list[int], spans: list[Span]
               ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(chunk vector, sentence vectors [len(spans), dim], indexes of spans that got no token).

    A token belongs to a span when their character ranges overlap; special tokens ([CLS], [SEP]) count
    for the chunk vector only, as in sentence-transformers' mean pooling.
    """
    chunk = _normalise(states.mean(0))
    starts = np.array([a for a, _ in offsets])
    ends = np.array([b for _, b in offsets])
    real = np.array(special) == 0
    out = np.zeros((len(spans), states.shape[1]), dtype=np.float32)
    empty = []
    for k, (s, e) in enumerate(spans):
        sel = real & (starts < e) & (ends > s)
        if sel.any():
            out[k] = _normalise(states[sel].mean(0))
        else:
            empty.append(k)
    return chunk, out, empty


def late_chunk_batch(embedder, items: list[tuple[str, list[Span]]], progress=None
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each (chunk text, sentence spans relative to that text): (chunk vector, sentence vectors).

    One forward pass per chunk, batched ``embedder.batch_size`` chunks at a time (longest first, as
    ``Embedder.encode`` does). ``progress(n)`` is called with the chunks done per batch.
    """
    results: list = [None] * len(items)
    alone: list[tuple[int, int]] = []  # (item, span) pairs encoded on their own
    order = sorted(range(len(items)), key=lambda i: -len(items[i][0]))
    for i in range(0, len(order), embedder.batch_size):
        idx = order[i:i + embedder.batch_size]
        for j, (states, offsets, special) in zip(idx, embedder.token_states([items[j][0] for j in idx])):
            chunk, sents, empty = pool_spans(states, offsets, special, items[j][1])
            results[j] = (chunk, sents)
            alone += [(j, k) for k in empty]
        if progress:
            progress(len(idx))
    if alone:
        texts = [items[j][0][slice(*items[j][1][k])] for j, k in alone]
        for (j, k), v in zip(alone, embedder.encode(texts)):
            results[j][1][k] = v
    return results


def late_chunk(embedder, text: str, spans: list[Span]) -> tuple[np.ndarray, np.ndarray]:
    """(chunk vector, sentence vectors [len(spans), dim]) of one chunk from one forward pass."""
    return late_chunk_batch(embedder, [(text, spans)])[0]
