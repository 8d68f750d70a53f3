"""Split cleaned text into sentences and token-bounded, overlapping chunks.

``chunk_document`` returns chunks and sentences, each with character offsets
into ``doc.text`` (``doc.text[start:end] == text``). Sizes are counted in
cl100k tokens (tiktoken) and checked against the embedding model's own
wordpiece tokenizer, so no chunk is silently truncated by its 256-token window,
whatever the script: a span with no usable break (Chinese, Japanese, a long URL,
base64) is cut at token boundaries instead of whitespace.
"""
from __future__ import annotations

import bisect
import functools
import re
from itertools import accumulate
from pathlib import Path

from core.text import sentence_spans

from .models import Chunk, Document, Sentence, content_id

VERSION = "2"  # bump when chunk boundaries change for the same text (it is part of the index fingerprint)
MODEL_MAX_WORDPIECES = 256 - 2  # [CLS] and [SEP] take two positions
# The model's pre-tokenizer splits on these (and more); wordpiece counts add up across them exactly.
_ASCII_WS = re.compile(r"[ \t\n\r]+")
_WS_ONLY = re.compile(r"[ \t\n\r]*")
# Where a long span may be cut without breaking a word: after whitespace or CJK punctuation.
_BREAK_AFTER = re.compile(r"[\s。！？；，、：]")
_WORD_CACHE_MAX = 1 << 20  # distinct words whose wordpiece counts are kept (~100 MB at most)


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


_WORDS: dict[str, dict[str, int]] = {}  # model path -> word -> wordpieces


def wordpiece_counts(texts: list[str], model_path: str) -> list[int]:
    """``count_wordpieces`` of each text, computed word by word with a cache.

    The model's tokenizer is exact but slow (~1.5 MB/s); text repeats its words,
    and the count of a text is the sum of its words' counts (the pre-tokenizer
    splits on ASCII whitespace first; tests/test_chunk_scripts.py checks it).
    """
    cache = _WORDS.setdefault(model_path, {"": 0})
    split = [_ASCII_WS.split(t) for t in texts]
    missing = list({w for words in split for w in words if w not in cache})
    if missing:
        if len(cache) + len(missing) > _WORD_CACHE_MAX:
            cache.clear()
            cache[""] = 0
        for w, enc in zip(missing, _wordpiece(model_path).encode_batch(missing, add_special_tokens=False)):
            cache[w] = len(enc.ids)
    return [sum(map(cache.__getitem__, words)) for words in split]


def _cut_points(text: str, start: int, end: int) -> tuple[list[int], list[int]]:
    """(token boundaries, boundaries after a usable break) inside text[start:end], as offsets into text."""
    enc = _tiktoken()
    _, offsets = enc.decode_with_offsets(enc.encode(text[start:end], disallowed_special=()))
    tokens = sorted({start + o for o in offsets if 0 < o < end - start}) + [end]
    breaks = [p for p in tokens if p == end or _BREAK_AFTER.match(text, p - 1)]
    return tokens, breaks


def _split_long(text: str, start: int, end: int, limit: int, model_path: str | None) -> list[tuple[int, int]]:
    """Cut an over-long span into pieces of <= ``limit`` tokens (and the model's window).

    Pieces end at a usable break (whitespace, CJK punctuation) when one fits, else at a
    token boundary, so text without spaces is cut too. Each piece is the longest that
    fits (binary search over the candidate ends; every candidate is counted exactly).
    """
    tokens, breaks = _cut_points(text, start, end)

    def fits(s: int, e: int) -> bool:
        piece = text[s:e]
        if count_tokens(piece) > limit:
            return False
        return model_path is None or count_wordpieces(piece, model_path) <= MODEL_MAX_WORDPIECES

    def furthest(cands: list[int], s: int) -> int | None:
        lo = bisect.bisect_right(cands, s)
        # A piece of n tokens re-encodes to about n tokens: no need to look much further.
        hi = min(len(cands), bisect.bisect_right(cands, s) + 2 * limit + 2)
        best = None
        while lo < hi:
            mid = (lo + hi) // 2
            e = len(text[s:cands[mid]].rstrip()) + s
            if e > s and fits(s, e):
                best, lo = e, mid + 1
            else:
                hi = mid
        return best

    pieces, s = [], start
    while s < end:
        e = furthest(breaks, s) or furthest(tokens, s) or s + 1  # one character always fits
        pieces.append((s, e))
        s = e + len(text[e:end]) - len(text[e:end].lstrip())
    return pieces


def pack(n: int, toks: list[int], fits, overlap: int, guess=None) -> list[tuple[int, int]]:
    """Greedy sentence packing: (first, last) sentence index of each chunk.

    ``fits(i, j)`` says whether sentences i..j make one chunk; each next chunk restarts at
    the trailing sentences of the previous one that fit in ``overlap`` tokens. Without
    ``guess`` a chunk grows while the next sentence fits. With ``guess(i)`` (the last
    sentence by an estimate) it starts there and shrinks until ``fits``: one exact count
    per chunk instead of one per sentence.
    """
    groups: list[tuple[int, int]] = []
    i = 0
    while i < n:
        j = i
        if guess is None:
            while j + 1 < n and fits(i, j + 1):
                j += 1
        else:
            j = max(i, min(n - 1, guess(i)))
            while j > i and not fits(i, j):
                j -= 1
        groups.append((i, j))
        if j + 1 >= n:
            break
        k, budget = j + 1, 0
        while k - 1 > i and budget + toks[k - 1] <= overlap:
            k -= 1
            budget += toks[k]
        i = k
    return groups


def build(doc: Document, spans: list[tuple[int, int]], groups: list[tuple[int, int]],
          counted: dict | None = None) -> tuple[list[Chunk], list[Sentence]]:
    """Chunk and Sentence values (ids from content hashes) for packed sentence ``groups``.

    ``counted`` maps (start, end) to token counts already known (saves re-counting).
    """
    counted = counted or {}
    text = doc.text
    chunks: list[Chunk] = []
    sent_chunk: dict[int, str] = {}
    for idx, (i, j) in enumerate(groups):
        s, e = spans[i][0], spans[j][1]
        cid = content_id(doc.doc_id, doc.content_hash, str(s), str(e))
        chunks.append(Chunk(doc.doc_id, doc.source, doc.title, text[s:e], s, e, idx, chunk_id=cid,
                            n_tokens=counted.get((s, e)) or count_tokens(text[s:e])))
        for k in range(i, j + 1):
            sent_chunk.setdefault(k, cid)  # a sentence's record names the first chunk that holds it
    sentences = [
        Sentence(doc.doc_id, doc.source, doc.title, text[s:e], s, e, k,
                 sentence_id=content_id(doc.doc_id, doc.content_hash, "s", str(s), str(e)), chunk_id=sent_chunk[k])
        for k, (s, e) in enumerate(spans)
    ]
    return chunks, sentences


def sentences_of(chunks: list[Chunk], sentences: list[Sentence]) -> list[list[Sentence]]:
    """For each chunk, every sentence inside it, the overlap it starts with included (both lists in text order)."""
    starts = [s.start for s in sentences]
    out = []
    for c in chunks:
        lo, hi = bisect.bisect_left(starts, c.start), bisect.bisect_right(starts, c.end)
        out.append([s for s in sentences[lo:hi] if s.end <= c.end])
    return out


def chunk_document(doc: Document, chunk_size: int, overlap: int, model_path: str | None = None
                   ) -> tuple[list[Chunk], list[Sentence]]:
    """Chunks (sentence-aligned, <= chunk_size tokens, ~overlap tokens shared) and sentences."""
    text = doc.text
    raw = sentence_spans(text)
    raw_toks = [count_tokens(text[s:e]) for s, e in raw]
    raw_wps = wordpiece_counts([text[s:e] for s, e in raw], model_path) if model_path else [0] * len(raw)
    spans: list[tuple[int, int]] = []
    toks: list[int] = []
    wps: list[int] = []
    for (s, e), t, w in zip(raw, raw_toks, raw_wps):
        if t <= chunk_size and w <= MODEL_MAX_WORDPIECES:
            spans.append((s, e))
            toks.append(t)
            wps.append(w)
            continue
        pieces = _split_long(text, s, e, chunk_size, model_path)
        spans += pieces
        toks += [count_tokens(text[a:b]) for a, b in pieces]
        wps += wordpiece_counts([text[a:b] for a, b in pieces], model_path) if model_path else [0] * len(pieces)
    # inword[k]: spans k-1 and k are not separated by ASCII whitespace (a cut inside a word), so
    # their wordpiece counts may not add up.
    inword = [0] + [0 if spans[k - 1][1] < spans[k][0] and _WS_ONLY.fullmatch(text, spans[k - 1][1], spans[k][0])
                    else 1 for k in range(1, len(spans))]
    newline = [0] + [int("\n" in text[spans[k - 1][1]:spans[k][0]]) for k in range(1, len(spans))]
    tok_sum, wp_sum, inword_sum, nl_sum = ([0, *accumulate(xs)] for xs in (toks, wps, inword, newline))

    def wordpieces(i: int, j: int) -> int:
        if inword_sum[j + 1] - inword_sum[i + 1]:  # a span cut inside a word: count the whole
            return count_wordpieces(text[spans[i][0]:spans[j][1]], model_path)
        return wp_sum[j + 1] - wp_sum[i]

    counted: dict[tuple[int, int], int] = {}

    def fits(i: int, j: int) -> bool:
        # Sentences i..j inclusive, with the separators between them: counted exactly.
        s, e = spans[i][0], spans[j][1]
        n = counted[(s, e)] = count_tokens(text[s:e])
        return n <= chunk_size and (model_path is None or wordpieces(i, j) <= MODEL_MAX_WORDPIECES)

    def guess(i: int) -> int:
        # The last sentence whose summed counts stay within both limits, a paragraph break
        # counted as one token ("\n\n" is one; a space merges into the next word's token).
        j = bisect.bisect_right(tok_sum, tok_sum[i] + chunk_size) - 2
        while j > i and tok_sum[j + 1] - tok_sum[i] + nl_sum[j + 1] - nl_sum[i + 1] > chunk_size:
            j -= 1
        if model_path is not None:
            j = min(j, bisect.bisect_right(wp_sum, wp_sum[i] + MODEL_MAX_WORDPIECES) - 2)
        return j

    return build(doc, spans, pack(len(spans), toks, fits, overlap, guess), counted)
