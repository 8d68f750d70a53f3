"""Split cleaned text into sentences and token-bounded, overlapping chunks.

``chunk_document`` returns chunks and sentences, each with character offsets
into ``doc.text`` (``doc.text[start:end] == text``). Sizes are counted in
cl100k tokens (tiktoken) and then checked against the embedding model's own
wordpiece tokenizer, so no chunk is silently truncated by its 256-token window.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from core.text import sentence_spans

from .models import Chunk, Document, Sentence, content_id

MODEL_MAX_WORDPIECES = 256 - 2  # [CLS] and [SEP] take two positions


@functools.lru_cache(maxsize=1)
def _tiktoken():
    from core.offline import enforce_offline

    enforce_offline()
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """cl100k tokens in ``text``."""
    return len(_tiktoken().encode(text, disallowed_special=()))


@functools.lru_cache(maxsize=4)
def _wordpiece(model_path: str):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_wordpieces(text: str, model_path: str) -> int:
    """Wordpieces the embedding model sees for ``text``, without [CLS]/[SEP]."""
    return len(_wordpiece(model_path).encode(text, add_special_tokens=False).ids)


def _split_long(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut an over-long sentence at word boundaries into pieces of <= limit tokens."""
    pieces, cur = [], start
    words = list(re.finditer(r"\S+", text[start:end]))
    piece_start = start
    for w in words:
        w_end = start + w.end()
        if count_tokens(text[piece_start:w_end]) > limit and cur > piece_start:
            pieces.append((piece_start, cur))
            piece_start = start + w.start()
        cur = w_end
    if cur > piece_start:
        pieces.append((piece_start, cur))
    return pieces


def pack(n: int, toks: list[int], fits, overlap: int) -> list[tuple[int, int]]:
    """Greedy sentence packing: (first, last) sentence index of each chunk.

    ``fits(i, j)`` says whether sentences i..j make one chunk; each next chunk restarts at
    the trailing sentences of the previous one that fit in ``overlap`` tokens.
    """
    groups: list[tuple[int, int]] = []
    i = 0
    while i < n:
        j = i
        while j + 1 < n and fits(i, j + 1):
            j += 1
        groups.append((i, j))
        if j + 1 >= n:
            break
        k, budget = j + 1, 0
        while k - 1 > i and budget + toks[k - 1] <= overlap:
            k -= 1
            budget += toks[k]
        i = k
    return groups


def build(doc: Document, spans: list[tuple[int, int]], groups: list[tuple[int, int]]
          ) -> tuple[list[Chunk], list[Sentence]]:
    """Chunk and Sentence values (ids from content hashes) for packed sentence ``groups``."""
    text = doc.text
    chunks: list[Chunk] = []
    sent_chunk: dict[int, str] = {}
    for idx, (i, j) in enumerate(groups):
        s, e = spans[i][0], spans[j][1]
        cid = content_id(doc.doc_id, doc.content_hash, str(s), str(e))
        chunks.append(Chunk(doc.doc_id, doc.source, doc.title, text[s:e], s, e, idx, chunk_id=cid,
                            n_tokens=count_tokens(text[s:e])))
        for k in range(i, j + 1):
            sent_chunk.setdefault(k, cid)  # a sentence belongs to the first chunk that holds it
    sentences = [
        Sentence(doc.doc_id, doc.source, doc.title, text[s:e], s, e, k,
                 sentence_id=content_id(doc.doc_id, doc.content_hash, "s", str(s), str(e)), chunk_id=sent_chunk[k])
        for k, (s, e) in enumerate(spans)
    ]
    return chunks, sentences


def chunk_document(doc: Document, chunk_size: int, overlap: int, model_path: str | None = None
                   ) -> tuple[list[Chunk], list[Sentence]]:
    """Chunks (sentence-aligned, <= chunk_size tokens, ~overlap tokens shared) and sentences."""
    text = doc.text
    spans: list[tuple[int, int]] = []
    for s, e in sentence_spans(text):
        spans.extend(_split_long(text, s, e, chunk_size) if count_tokens(text[s:e]) > chunk_size else [(s, e)])
    toks = [count_tokens(text[s:e]) for s, e in spans]

    def fits(i: int, j: int) -> bool:
        # Sentences i..j inclusive, with the separators between them.
        span = text[spans[i][0]:spans[j][1]]
        if count_tokens(span) > chunk_size:
            return False
        return model_path is None or count_wordpieces(span, model_path) <= MODEL_MAX_WORDPIECES

    return build(doc, spans, pack(len(spans), toks, fits, overlap))
