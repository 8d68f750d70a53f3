"""Sentences stored inside their chunk's Chroma record (index layout 2).

A chunk record's metadata carries every sentence inside the chunk, the overlap it starts with included:

    sentence_ids    "id,id,..."                        (read into Passage.sentence_ids)
    sentence_spans  "[[start, end, index], ...]"       offsets into the document's cleaned text, position in it
    sentence_ents   '["LABEL\\ttext\\n...", null, ...]'  named entities per sentence (null: not recorded)
    sentence_vecs   base64 of float16 [n, dim], little-endian

A sentence's text is not stored again: it is the chunk's text at its offsets. So a retrieved chunk
brings its sentences in the same Chroma read, no nearest-neighbour index is kept for vectors that
are only ever read by id (528k of them at 100k chunks), and a Chroma server holds everything
(no local state). float16 halves the payload; its rounding moves a cosine by < 1e-3 (bench/layout.md).
"""
from __future__ import annotations

import base64
import json

LAYOUT = 2  # 1 (no "layout" key): sentences were records of their own `<name>_sentences` collection
VEC_DTYPE = "<f2"  # float16, little-endian: the stored form of a sentence vector
KEYS = ("sentence_spans", "sentence_ents", "sentence_vecs")  # what layout 2 adds to a chunk record


def ents_text(ents) -> str | None:
    """Entities as stored ("LABEL\\ttext" lines; core.text.entities' pairs); None when not recorded."""
    return None if ents is None else "\n".join(f"{label}\t{text}" for label, text in ents)


def pack(inside: list, vecs, ents: list) -> dict:
    """The metadata keys of layout 2 for a chunk: ``inside`` its Sentences, ``vecs`` their vectors (same order),
    ``ents`` their entity strings (``ents_text``)."""
    import numpy as np

    arr = np.asarray(vecs, dtype=np.float32).astype(VEC_DTYPE)
    return {"sentence_ids": ",".join(x.sentence_id for x in inside),
            "sentence_spans": json.dumps([[x.start, x.end, x.index] for x in inside], separators=(",", ":")),
            "sentence_ents": json.dumps(ents, separators=(",", ":")),
            "sentence_vecs": base64.b64encode(arr.tobytes()).decode("ascii")}


def has_sentences(meta: dict | None) -> bool:
    """Whether a chunk record holds its sentences (layout 2)."""
    return bool(meta) and "sentence_vecs" in meta


def unpack(chunk_id: str, text: str, meta: dict) -> list[tuple]:
    """(sentence id, text, metadata, float32 vector) of every sentence stored in a chunk record.

    The metadata has the keys a sentence record of layout 1 had (doc_id, content_hash, source, title,
    chunk_id, start, end, index, and ents when recorded), so readers build the same Sentence values.
    """
    import numpy as np

    if not has_sentences(meta):
        return []
    ids = [x for x in str(meta.get("sentence_ids") or "").split(",") if x]
    spans = json.loads(meta["sentence_spans"])
    ents = json.loads(meta["sentence_ents"])
    raw = base64.b64decode(meta["sentence_vecs"])
    vecs = np.frombuffer(raw, dtype=VEC_DTYPE).astype(np.float32).reshape(len(ids), -1) if ids else []
    base = {k: meta[k] for k in ("doc_id", "content_hash", "source", "title") if k in meta}
    c0 = int(meta["start"])
    out = []
    for sid, (start, end, index), e, vec in zip(ids, spans, ents, vecs):
        m = {**base, "chunk_id": chunk_id, "start": start, "end": end, "index": index}
        if e is not None:
            m["ents"] = e
        out.append((sid, text[start - c0:end - c0], m, vec))
    return out
