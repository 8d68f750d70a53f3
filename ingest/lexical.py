"""The BM25 side of hybrid retrieval, rebuilt after every ingest that changes the index.

Saved next to the Chroma data (``index_dir/bm25-<collection>``) with a
signature of the manifest, so a reader can tell when it is stale (e.g. a
Chroma server updated by another client) and rebuild it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

from core.text import tokenize

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

    from .store import get_all

    records = store.records()
    got = get_all(store.chunks, ["documents", "metadatas"])
    ids, texts = [], []
    for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
        rec = records.get(meta.get("doc_id"))
        if rec and rec.content_hash == meta.get("content_hash"):
            ids.append(cid)
            texts.append(f"{meta.get('title', '')}\n{text}")
    d = _dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    sig = manifest_signature(records)
    # One writer at a time (an ingest and a UI process may both find the index stale); a private
    # temp dir each, and the swap under the lock, so a reader never loads half of one.
    with _build_lock(d):
        try:
            if json.loads((d / "meta.json").read_text())["signature"] == sig:
                return  # another writer built this very version while we waited
        except (OSError, ValueError, KeyError):
            pass
        tmp = d.with_name(f"{d.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        retriever = bm25s.BM25()
        if texts:
            retriever.index([tokenize(t) or ["_empty_"] for t in texts], show_progress=False)
            retriever.save(str(tmp / "bm25"))
        (tmp / "meta.json").write_text(json.dumps({"signature": sig, "ids": ids}))
        old = d.with_name(d.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        d.rename(old)
        tmp.rename(d)
        shutil.rmtree(old, ignore_errors=True)


_THREAD_LOCK = threading.Lock()


@contextmanager
def _build_lock(d: Path):
    """Exclusive across threads (a lock) and processes (flock on a file beside the index)."""
    import fcntl

    with _THREAD_LOCK, open(d.with_name(d.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
