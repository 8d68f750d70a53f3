"""The BM25 side of hybrid retrieval, rebuilt after every ingest that changes the index.

Saved next to the Chroma data as immutable versions, one folder each, and a
pointer file naming the current one::

    index_dir/bm25-<collection>/CURRENT            -> "v-<signature>-<token>"
    index_dir/bm25-<collection>/v-<sig>-<token>/    meta.json (signature, chunk ids) + bm25/
    index_dir/bm25-<collection>/.tmp-<pid>-<token>/ a version being built

A version is built in a private temp folder, renamed into place, and published
by atomically replacing ``CURRENT``; it is never modified afterwards. A reader
resolves ``CURRENT`` once and reads ``meta.json`` and the BM25 arrays from that
one folder, so scores and chunk ids always belong together. Builders (an ingest,
or a reader that found the index stale, e.g. a Chroma server updated by another
client) take a build lock, which also makes every temp folder they find a dead
builder's leftover, swept on the spot.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

from core.text import tokenize

CURRENT = "CURRENT"
KEEP_VERSIONS = 2  # the current one and its predecessor, which a reader may be loading right now
READ_ATTEMPTS = 5  # a version deleted under a slow reader: resolve CURRENT again


def manifest_signature(records) -> str:
    """A hash of (doc_id, content_hash) pairs: changes whenever the indexed corpus does."""
    h = hashlib.sha256()
    for did in sorted(records):
        h.update(f"{did}:{records[did].content_hash}\n".encode())
    return h.hexdigest()[:16]


def _dir(settings) -> Path:
    return Path(settings.index_dir) / f"bm25-{settings.collection}"


class TokenCorpus:
    """Chunk texts as BM25 token ids, added one at a time.

    Only ids are kept: a text's token strings live while it is added, and every occurrence of a token
    is the one int object its vocabulary entry holds (8 bytes a token). Keeping the texts' token lists
    for bm25s to number held ~9 KB a chunk (1.8 GB peak at 100k chunks, OOM-killed at 1M).
    """

    def __init__(self, texts=()):
        self.ids: list[list[int]] = []
        self.vocab: dict[str, int] = {}
        for text in texts:
            self.add(text)

    def add(self, text: str) -> None:
        vocab = self.vocab
        self.ids.append([vocab.setdefault(t, len(vocab)) for t in tokenize(text) or ["_empty_"]])

    def __len__(self) -> int:
        return len(self.ids)


def build_lexical_index(settings, store) -> None:
    """Build BM25 over every current chunk of ``store`` and publish it."""
    from .store import pages

    records = store.records()
    sig = manifest_signature(records)
    d = _dir(settings)
    if (_read_meta(d) or {}).get("signature") == sig:
        return  # already built for this manifest (e.g. a repair run after a writer died past its build)
    ids, corpus = [], TokenCorpus()
    # A page at a time, keeping only token ids: a chunk's metadata carries its sentences' vectors (~6 KB),
    # and reading all of them at once held 8+ GB at 1M chunks.
    for got in pages(store.chunks, ["documents", "metadatas"]):
        for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
            rec = records.get(meta.get("doc_id"))
            if rec and rec.content_hash == meta.get("content_hash"):
                ids.append(cid)
                corpus.add(f"{meta.get('title', '')}\n{text}")
    publish(d, sig, ids, corpus)


def publish(d: Path, sig: str, ids: list[str], texts: "list[str] | TokenCorpus") -> None:
    """Make (``ids``, BM25 of ``texts``) the current version of the BM25 folder ``d``."""
    import bm25s

    corpus = texts if isinstance(texts, TokenCorpus) else TokenCorpus(texts)
    d.mkdir(parents=True, exist_ok=True)
    with _build_lock(d):
        _sweep(d)
        if (_read_meta(d) or {}).get("signature") == sig:
            return  # another builder published this very version while we waited
        token = uuid.uuid4().hex[:8]
        tmp = d / f".tmp-{os.getpid()}-{token}"
        tmp.mkdir()
        if len(corpus):
            retriever = bm25s.BM25()
            retriever.index((corpus.ids, corpus.vocab), show_progress=False)
            retriever.save(str(tmp / "bm25"))
        (tmp / "meta.json").write_text(json.dumps({"signature": sig, "ids": ids}))
        name = f"v-{sig}-{token}"
        tmp.rename(d / name)
        pointer = d / f".{CURRENT}.{token}"
        pointer.write_text(name)
        os.replace(pointer, d / CURRENT)  # the switch: atomic, readers see the old or the new name
        _sweep(d)


def _current_name(d: Path) -> str | None:
    try:
        return (d / CURRENT).read_text().strip() or None
    except OSError:
        return None


def _read_meta(d: Path) -> dict | None:
    name = _current_name(d)
    try:
        return json.loads((d / name / "meta.json").read_text()) if name else None
    except (OSError, ValueError):
        return None


def _sweep(d: Path) -> None:
    """Under the build lock: drop temp folders (dead builders'), versions past KEEP_VERSIONS, the old layout."""
    current = _current_name(d)
    versions = sorted((p for p in d.glob("v-*") if p.is_dir() and p.name != current),
                      key=lambda p: p.stat().st_mtime, reverse=True)
    doomed = [*d.glob(".tmp-*"), *d.glob(f".{CURRENT}.*"), *versions[KEEP_VERSIONS - 1:],
              d / "meta.json", d / "bm25", *d.parent.glob(f"{d.name}.tmp-*"), d.parent / f"{d.name}.old"]
    for p in doomed:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink(missing_ok=True)


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


class Bm25Scores:
    """A saved bm25s index, read with NumPy alone, scoring as ``bm25s.BM25.get_scores_from_ids`` does.

    Importing bm25s pulls in scipy (~0.5 s of a cold `docqa ask`); a reader needs only the three score
    arrays, the vocabulary and bm25s's own NumPy scoring loop, repeated here (tests compare the two).
    Indexes are written by bm25s (``publish``) with its default method ("lucene": no non-occurrence
    array); any other method is refused so that it is read by bm25s itself.
    """

    FILES = ("data", "indices", "indptr")

    def __init__(self, folder: Path):
        import numpy as np

        params = json.loads((folder / "params.index.json").read_text())
        if params.get("method") not in ("lucene", "robertson", "atire"):
            raise ValueError(f"BM25 method {params.get('method')!r} needs bm25s's own loader")
        self.dtype = np.dtype(params.get("dtype", "float32"))
        self.int_dtype = np.dtype(params.get("int_dtype", "int32"))
        self.vocab_dict: dict[str, int] = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        self.scores = {k: np.load(folder / f"{k}.csc.index.npy") for k in self.FILES}
        self.scores["num_docs"] = params["num_docs"]

    def get_scores_from_ids(self, token_ids):
        """BM25 score of every document for the query token ids (bm25s's NumPy path, term by term)."""
        import numpy as np

        ids = np.asarray(token_ids, dtype=self.int_dtype)
        data, indices, indptr = (self.scores[k] for k in self.FILES)
        if int(ids.max(initial=0)) >= len(indptr) - 1:
            raise ValueError("a query token id is past the index's vocabulary")
        out = np.zeros(self.scores["num_docs"], dtype=self.dtype)
        for start, end in zip(indptr[ids], indptr[ids + 1]):
            np.add.at(out, indices[start:end], data[start:end])
        return out


def _load_bm25(folder: Path):
    try:
        return Bm25Scores(folder)
    except ValueError:
        import bm25s

        return bm25s.BM25.load(str(folder))


def read_current(d: Path):
    """(signature, Bm25Scores or None, chunk ids) of the current version of ``d``; None if there is none.

    Everything comes from the one folder ``CURRENT`` named when it was read.
    """
    for _ in range(READ_ATTEMPTS):
        name = _current_name(d)
        if name is None:
            return None
        try:
            meta = json.loads((d / name / "meta.json").read_text())
            bm25 = _load_bm25(d / name / "bm25") if meta["ids"] else None
            return meta["signature"], bm25, meta["ids"]
        except (OSError, ValueError, KeyError):
            continue  # swept under us (we were slow): CURRENT names a newer version now
    return None


def load_lexical_index(settings, store, records=None):
    """(Bm25Scores or None, chunk ids) for the current index, rebuilding it if stale."""
    records = store.records() if records is None else records
    sig = manifest_signature(records)
    d = _dir(settings)
    for attempt in range(2):
        got = read_current(d)
        if got is not None and got[0] == sig:
            return got[1], got[2]
        if attempt == 0:
            build_lexical_index(settings, store)
    return None, []
