"""The BM25 side of hybrid retrieval, rebuilt after every ingest that changes the index.

Saved next to the Chroma data (``index_dir/bm25-<collection>``) with a
signature of the manifest, so a reader can tell when it is stale (e.g. a
Chroma server updated by another client) and rebuild it.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

_STOP = frozenset("""a an and are as at be been but by can could did do does for from had has have he her his how
i if in into is it its it's of on or our she should so than that the their them then there these they this
those to was we were what when where which who whom why will with would you your not no nor also just more
most other some such only own same too very s t about above after again against all am any because before
being below between both during each few further here once out over under until up while""".split())


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens without stopwords; a light plural strip so 'jobs' meets 'job'."""
    out = []
    for w in re.findall(r"[\w’']+", text.lower()):
        w = w.replace("’", "'").strip("'")
        if w.endswith("'s"):
            w = w[:-2]
        if not w or w in _STOP:
            continue
        if len(w) > 4 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


def manifest_signature(records) -> str:
    """A hash of (doc_id, content_hash) pairs: changes whenever the indexed corpus does."""
    h = hashlib.sha256()
    for did in sorted(records):
        h.update(f"{did}:{records[did].content_hash}\n".encode())
    return h.hexdigest()[:16]


def _dir(settings) -> Path:
    return Path(settings.index_dir) / f"bm25-{settings.collection}"


def build_lexical_index(settings, store) -> None:
    """Build BM25 over every current chunk of ``store`` and save it."""
    import bm25s

    records = store.records()
    got = store.chunks.get(include=["documents", "metadatas"])
    ids, texts = [], []
    for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
        rec = records.get(meta.get("doc_id"))
        if rec and rec.content_hash == meta.get("content_hash"):
            ids.append(cid)
            texts.append(f"{meta.get('title', '')}\n{text}")
    d = _dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d.with_name(d.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    retriever = bm25s.BM25()
    if texts:
        retriever.index([tokenize(t) or ["_empty_"] for t in texts], show_progress=False)
        retriever.save(str(tmp / "bm25"))
    (tmp / "meta.json").write_text(json.dumps({"signature": manifest_signature(records), "ids": ids}))
    # Swap in the new index whole, so a reader never loads half of one.
    import shutil

    old = d.with_name(d.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    d.rename(old)
    tmp.rename(d)
    shutil.rmtree(old, ignore_errors=True)


def load_lexical_index(settings, store, records=None):
    """(bm25s.BM25 or None, chunk ids) for the current index, rebuilding it if stale."""
    import bm25s

    records = store.records() if records is None else records
    sig = manifest_signature(records)
    d = _dir(settings)
    for attempt in range(2):
        try:
            meta = json.loads((d / "meta.json").read_text())
            if meta["signature"] == sig:
                if not meta["ids"]:
                    return None, []
                return bm25s.BM25.load(str(d / "bm25")), meta["ids"]
        except (OSError, ValueError, KeyError):
            pass
        if attempt == 0:
            build_lexical_index(settings, store)
    return None, []
