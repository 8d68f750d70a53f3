"""The documented shortcut that builds the large (10k-100k chunk) bench indexes in minutes, not hours.

Embedding 100k chunks plus their ~600k sentences takes hours on 2 CPU cores, so
for sizes above ``--real-ingest-max`` the index is written by this module
instead of ``run_ingest``. Documents are loaded and cleaned by the real
pipeline, written by ``Store.put_documents`` (batched
across documents, see ``_flush``), and the BM25 index is built by the real
``build_lexical_index``. Two things differ:

1. Chunking: the same packing (``ingest.chunk.pack``) and chunk values (``build``) as
   ``ingest.chunk.chunk_document``, but span sizes are the sum of cached
   per-sentence token counts instead of re-tokenising every candidate span
   (the synthetic corpora recombine ~200 real sentences, so counts repeat).
   Chunk sizes stay within a few tokens of what ``chunk_document`` gives.
2. Vectors: every distinct sentence is embedded once by the real model
   (cached by text); a chunk's vector is the normalised mean of its
   sentences' vectors instead of an encode of the chunk text.

Query-time work is unchanged (same collections, vector count, dimension,
metadata, BM25 size), which is what the growth benchmark measures; answer
quality on these synthetic indexes is not meaningful and is not reported.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

from core.errors import DocqaError

_COUNTS: dict[str, tuple[int, int]] = {}
ENCODE_DOCS = 500  # documents whose new sentence texts are encoded in one call
FLUSH_SENTENCES = 4000  # pending sentences that make one Store.put_documents call


def _counts(text: str, model_path: str) -> tuple[int, int]:
    got = _COUNTS.get(text)
    if got is None:
        from ingest.chunk import count_tokens, count_wordpieces

        got = _COUNTS[text] = (count_tokens(text), count_wordpieces(text, model_path))
    return got


def fast_chunks(text: str, chunk_size: int, overlap: int, model_path: str):
    """(sentence spans, chunk groups as (first, last) sentence index) or None if a sentence is over-long."""
    from core.text import sentence_spans
    from ingest.chunk import MODEL_MAX_WORDPIECES, pack

    spans = sentence_spans(text)
    counts = [_counts(text[s:e], model_path) for s, e in spans]
    if any(t > chunk_size for t, _ in counts):
        return None
    toks = [t for t, _ in counts]
    # A blank line between paragraphs costs about one token; a space inside one merges into the next word.
    breaks = [0] + [1 if "\n" in text[spans[k - 1][1]:spans[k][0]] else 0 for k in range(1, len(spans))]

    def fits(i: int, j: int) -> bool:
        tok = sum(toks[i:j + 1]) + sum(breaks[i + 1:j + 1])
        return tok <= chunk_size and sum(c[1] for c in counts[i:j + 1]) <= MODEL_MAX_WORDPIECES

    return spans, pack(len(spans), toks, fits, overlap)


def fast_chunk_document(doc, settings):
    """(chunks, sentences, groups) like ``chunk_document``; groups is None when it fell back to it."""
    from ingest.chunk import build, chunk_document

    got = fast_chunks(doc.text, settings.chunk_size, settings.chunk_overlap, settings.model_path)
    if got is None:
        chunks, sentences = chunk_document(doc, settings.chunk_size, settings.chunk_overlap, settings.model_path)
        return chunks, sentences, None
    spans, groups = got
    chunks, sentences = build(doc, spans, groups)
    return chunks, sentences, groups


class VectorCache:
    """Real embeddings of distinct texts, computed once (keyed by a hash of the text)."""

    def __init__(self, embedder):
        self.embedder = embedder
        self.vecs: dict[str, object] = {}
        self.encoded = 0

    @staticmethod
    def key(text: str) -> str:
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()

    def get(self, texts: list[str]):
        """float32 (len(texts), dim) of the real model's vectors."""
        import numpy as np

        missing = list(dict.fromkeys(t for t in texts if self.key(t) not in self.vecs))
        if missing:
            for t, v in zip(missing, self.embedder.encode(missing)):
                self.vecs[self.key(t)] = v
            self.encoded += len(missing)
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype="float32")
        return np.stack([self.vecs[self.key(t)] for t in texts]).astype("float32")

    def mean_of_sentences(self, texts: list[str]):
        """Per text: the normalised mean of its sentences' real vectors (the shortcut chunk vector)."""
        import numpy as np

        from core.text import sentences

        out = []
        for t in texts:
            parts = sentences(t) or [t]
            v = self.get(parts).mean(axis=0)
            out.append(v / (np.linalg.norm(v) or 1.0))
        return np.stack(out).astype("float32") if out else np.zeros((0, self.embedder.dim), dtype="float32")


def build_stamp(settings, corpus: Path) -> str:
    """What a shortcut index was built from: the corpus parameters and the index fingerprint (model, encoder,
    storage layout...). A stamp that differs means rebuild: an unchanged re-ingest of an index with another
    fingerprint would re-process every document, which the shortcut exists to avoid."""
    from ingest.embed import model_identity
    from ingest.fingerprint import fingerprint, key

    params = (Path(corpus) / ".params").read_text() if (Path(corpus) / ".params").exists() else ""
    return params + "\n" + key(fingerprint(settings, model_identity(settings.model_path)[0]))


STOP_FILE = ".bench-stop"


class BuildStopped(DocqaError):
    """A shortcut build left off on request (``STOP_FILE`` in the index folder); rerunning resumes it.

    A DocqaError, so `docqa bench` shows it as its one-line message like any other."""


def _flush(store, pending: list) -> None:
    """Write many documents at once with ``Store.put_documents`` (the path ``docqa ingest`` takes).

    A fresh index has no old versions to drop, hence ``replacing=set()``.
    """
    if not pending:
        return
    store.put_documents([(doc, chunks, cv.tolist(), sentences, sv.tolist())
                         for doc, chunks, cv, sentences, sv in pending], replacing=set())
    pending.clear()


def build_index_fast(settings, embedder, cache: VectorCache, log=print, resume: bool = False) -> dict:
    """Index ``settings.corpus_dir`` into ``settings.index_dir`` by the shortcut above.

    A fresh index, or with ``resume`` one that an earlier build left unfinished: documents already in the
    manifest are skipped (files are taken in the same sorted order) and the vectors a killed flush left
    without a manifest record are swept first. At 1M chunks the build takes over two hours on 2 cores,
    longer than one sitting, so it has to survive being stopped.
    """
    import numpy as np

    from ingest.lexical import build_lexical_index
    from ingest.load import discover
    from ingest.models import content_id
    from ingest.pipeline import prepare_document, source_name
    from ingest.store import open_store

    t0 = time.perf_counter()
    files, _ = discover([Path(settings.corpus_dir)])
    store = open_store(settings, embedder.name, embedder.dim, create=True, encoder_id=embedder.encoder_id)
    done = store.records() if store.docs.count() else {}
    if done and not resume:
        raise ValueError(f"{settings.index_dir} already holds an index; the shortcut builds fresh ones only")
    if done:
        todo = [f for f in files if content_id(source_name(f, settings.corpus_dir)) not in done]
        # A flush writes rows for a few hundred documents before their one manifest switch, in file order.
        swept = store.sweep([content_id(source_name(f, settings.corpus_dir)) for f in todo[:2 * ENCODE_DOCS]])
        log(f"  shortcut build: resuming after {len(done)} documents ({len(files) - len(todo)} files), "
            f"{swept} orphan chunk records swept")
        files_done, files = len(files) - len(todo), todo
    else:
        files_done = 0
    n_chunks = sum(r.n_chunks for r in done.values())
    n_sents = sum(r.n_sentences for r in done.values())
    fallbacks = 0
    pending: list = []
    batch: list = []
    for n, path in enumerate(files, 1):
        doc = prepare_document(path, settings.corpus_dir, fingerprint=store.fingerprint)  # as ingest hashes it
        batch.append((doc, *fast_chunk_document(doc, settings)))
        if len(batch) < ENCODE_DOCS and n < len(files):
            continue
        # One encode for the new texts of many documents (each has a distinct title line): per-document
        # calls of one or two texts made the 100k build hours long on a loaded machine.
        cache.get([s.text for _, _, sentences, _ in batch for s in sentences])
        for doc, chunks, sentences, groups in batch:
            sent_vecs = cache.get([s.text for s in sentences])
            if groups is None:
                fallbacks += 1
                chunk_vecs = cache.mean_of_sentences([c.text for c in chunks])
            else:
                chunk_vecs = np.stack([sent_vecs[i:j + 1].mean(axis=0) for i, j in groups])
                chunk_vecs /= np.linalg.norm(chunk_vecs, axis=1, keepdims=True)
            pending.append((doc, chunks, chunk_vecs, sentences, sent_vecs))
            n_chunks += len(chunks)
            n_sents += len(sentences)
            if sum(len(p[3]) for p in pending) >= FLUSH_SENTENCES:
                _flush(store, pending)
        batch.clear()
        log(f"  shortcut build: {files_done + n}/{files_done + len(files)} docs, {n_chunks} chunks, "
            f"{time.perf_counter() - t0:.0f}s")
        if (Path(settings.index_dir) / STOP_FILE).exists():
            # Signals are unreliable here (SIGINT was swallowed mid-build); a file is read between batches.
            _flush(store, pending)
            raise BuildStopped(f"stopped at {files_done + n} documents by {STOP_FILE}; rerun to resume")
    _flush(store, pending)
    store.set_index_fingerprint(store.fingerprint)
    store.end_write()  # a complete build: the next ingest needs no sweep
    t_store = time.perf_counter() - t0
    build_lexical_index(settings, store)
    return {"docs": files_done + len(files), "chunks": n_chunks, "sentences": n_sents, "fallback_docs": fallbacks,
            "distinct_texts_encoded": cache.encoded, "store_s": t_store, "total_s": time.perf_counter() - t0,
            "resumed_after_docs": files_done}


def shortcut_index(settings, corpus: Path, embedder_factory, cache: VectorCache | None = None, log=print) -> dict:
    """Build, resume or reuse the shortcut index of ``corpus`` in ``settings.index_dir``; its build record.

    ``.bench-built`` holds the build stamp of a finished index (reused while it matches);
    ``.bench-partial`` the stamp of one being built, so a stopped build with the same stamp resumes and
    anything else starts over. ``.bench-build.json`` adds up the seconds of every sitting.
    """
    import json
    import shutil

    idx = Path(settings.index_dir)
    params = build_stamp(settings, corpus)
    done, partial, record = idx / ".bench-built", idx / ".bench-partial", idx / ".bench-build.json"
    if done.exists() and done.read_text() == params:
        log(f"reusing the shortcut index built earlier ({idx})")
        return json.loads(record.read_text())
    resume = partial.exists() and partial.read_text() == params and record.exists()
    earlier = json.loads(record.read_text()).get("sittings_s", []) if resume else []
    if not resume:
        shutil.rmtree(idx, ignore_errors=True)
        idx.mkdir(parents=True)
        partial.write_text(params)
        record.write_text(json.dumps({"sittings_s": []}))
    log(f"shortcut build of {idx} ({'resumed' if resume else 'fresh'}; cached sentence vectors, "
        "the Store.put_documents path)")
    t0 = time.perf_counter()

    def log_and_save(msg: str) -> None:
        record.write_text(json.dumps({"sittings_s": earlier + [round(time.perf_counter() - t0, 1)]}))
        log(msg)

    embedder = embedder_factory()
    (idx / STOP_FILE).unlink(missing_ok=True)
    build = build_index_fast(settings, embedder, cache or VectorCache(embedder), log=log_and_save, resume=resume)
    build["sittings_s"] = earlier + [round(build["total_s"], 1)]
    build["total_s"] = round(sum(build["sittings_s"]), 1)
    record.write_text(json.dumps(build))
    done.write_text(params)
    partial.unlink()
    return build
