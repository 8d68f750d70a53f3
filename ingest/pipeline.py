"""``run_ingest``: bring the index in line with the documents on disk, incrementally.

Documents are identified by path (doc_id) and content hash. Unchanged files
embed nothing; changed files have their chunks replaced; files gone from a
scanned folder are removed; ``rebuild`` starts clean. A run killed half-way is
repaired by the next one (see store.py for the write order).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.text import entities

from .chunk import chunk_document
from .clean import clean_text
from .faults import crash_point
from .filestat import FileStats, stat_key
from .fingerprint import describe_change, key, parse, version_hash
from .load import LoadError, discover, load_file, read_bytes, real_path
from .models import Document, content_id


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    chunks: int = 0  # chunks embedded in this run
    sentences: int = 0
    total_chunks: int = 0  # chunks in the index afterwards
    seconds: float = 0.0
    repaired: int = 0  # stale vectors swept from an interrupted run
    warnings: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # why documents were re-processed, one line each

    def summary(self) -> str:
        """The one-line summary printed at the end of `docqa ingest`."""
        embedded = (f"embedded {self.chunks} chunks + {self.sentences} sentences" if self.chunks
                    else "nothing to embed, index up to date")
        return (f"{self.added} added, {self.updated} updated, {self.removed} removed, {self.unchanged} unchanged, "
                f"{self.skipped} skipped; {embedded}; {self.total_chunks} chunks indexed; {self.seconds:.1f}s")


def source_name(path: Path, corpus_dir: Path) -> str:
    """The name a document is known by: its path inside the corpus, else its absolute path."""
    return _source(path.resolve(), Path(corpus_dir).resolve())


def _source(real: Path, corpus: Path) -> str:
    """``source_name`` of resolved paths (resolving costs syscalls per path component: 16k files)."""
    try:
        return real.relative_to(corpus).as_posix()
    except ValueError:
        return str(real)


def _fast_source(path: Path, corpus: str, dirs: dict) -> str:
    """``source_name(path, corpus)`` with each folder resolved once (a resolve per file was a third of an
    unchanged re-ingest)."""
    import os

    real = real_path(str(path), dirs, strict=False)
    return real[len(corpus) + 1:] if real.startswith(corpus + os.sep) else real


def prepare_document(path: Path, corpus_dir: Path, max_mb: int = 10, fingerprint: dict | None = None) -> Document:
    """Load and clean one file into a Document; raises LoadError.

    Its content hash covers the file's bytes and the index ``fingerprint`` it is built
    with (``ingest.fingerprint.version_hash``; the bytes alone without one).
    """
    raw, data = load_file(path, max_bytes=max_mb * 1024 * 1024)
    source = source_name(path, corpus_dir)
    cleaned = clean_text(raw, fallback_title=path.stem)
    if not cleaned.text.strip():
        raise LoadError("nothing left after cleaning (only boilerplate?)")
    return Document(doc_id=content_id(source), source=source, path=str(path.resolve()), title=cleaned.title,
                    text=cleaned.text, content_hash=version_hash(data, fingerprint))


def _under(path: str, roots: list[Path]) -> bool:
    p = Path(path)
    for r in roots:
        r = r.resolve()
        if p == r or r in p.parents:
            return True
    return False


def _drop_index(settings) -> None:
    """Delete the collections of this index, whatever model built them (under the writer lock).

    The meta collection stays, emptied but for the writer's lease (Chroma server mode).
    """
    from .lock import LEASE_KIND
    from .store import KINDS, LEGACY_KINDS, connect, stamp_path

    stamp = stamp_path(settings)
    if stamp is not None:  # first: readers must stop trusting the token of the collections dropped here
        stamp.unlink(missing_ok=True)
    client = connect(settings)
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    for kind in KINDS + LEGACY_KINDS:
        name = f"{settings.collection}_{kind}"
        if name not in names:
            continue
        if kind == "meta":
            meta = client.get_collection(name, embedding_function=None)
            got = meta.get(include=["metadatas"])
            drop = [i for i, m in zip(got["ids"], got["metadatas"]) if (m or {}).get("kind") != LEASE_KIND]
            if drop:
                meta.delete(ids=drop)
        else:
            client.delete_collection(name)


# Texts per encode call and per write. Larger groups pad less (ST sorts each call by length) and
# write in fewer Chroma calls; 4096 vectors are 6 MB. A killed run loses at most one group's work.
# A group holds whole documents, so one larger than this (at most max_file_mb of text, ~80 MB of
# vectors at 10 MB) is one group, encoded a slice at a time.
ENCODE_GROUP = 4096


@dataclass(frozen=True)
class Todo:
    """A document to (re-)embed, and why."""

    doc: Document
    existed: bool
    reason: str  # "new", "changed", or what changed in the fingerprint ("chunk_size 180 -> 120")
    old_fingerprint: str = ""  # of the record it replaces (JSON; "" when none was recorded)


@dataclass
class Plan:
    """What a run will do: documents to (re-)embed and documents to forget."""

    todo: list = field(default_factory=list)  # Todo
    gone: list = field(default_factory=list)  # DocRecord of files removed from a scanned folder
    unchanged: list = field(default_factory=list)  # DocRecord of files left as they are

    def reasons(self, fp: dict, would: bool = False) -> list[str]:
        """One line per distinct fingerprint change ("chunk_size 180 -> 120: re-chunking 4 documents")."""
        by_old: dict[str, int] = {}
        for t in self.todo:
            if t.reason not in ("new", "changed"):
                by_old[t.old_fingerprint] = by_old.get(t.old_fingerprint, 0) + 1
        return [describe_change(parse(old), fp, n, would) for old, n in by_old.items()]


def plan(settings, files: list[Path], roots: list[Path], records: dict, report: IngestReport,
         fp: dict | None = None, stats=None) -> Plan:
    """Compare the files on disk with the manifest ``records``, embedding nothing.

    A file whose bytes and fingerprint match its record is not even decoded or cleaned:
    one read and one hash (an unchanged re-ingest of 100k chunks is I/O, not cleaning), and not even
    read when ``stats`` (ingest.filestat.FileStats) remembers its hash under the same stat (none: every
    file is read, and nothing is remembered).
    """
    from .fingerprint import changes

    stats = stats or FileStats(None, "")
    out = Plan()
    seen_hash: dict[str, str] = {r.content_hash: r.source for r in records.values()}
    seen_ids: set[str] = set()
    max_bytes = settings.max_file_mb * 1024 * 1024
    corpus = str(Path(settings.corpus_dir).resolve())
    dirs: dict[str, str] = {}
    fp_key = key(fp).encode() if fp else None
    for path in files:
        source = _fast_source(path, corpus, dirs)
        old = records.get(content_id(source))
        st = stat_key(path)  # before reading: a later write shows next time
        try:
            if old:
                digest = stats.known(source, st) or version_hash(read_bytes(path, max_bytes), fp, fp_key)
                if digest == old.content_hash:
                    stats.note(source, st, digest)
                    seen_ids.add(old.doc_id)
                    out.unchanged.append(old)
                    report.unchanged += 1
                    continue
            doc = prepare_document(path, settings.corpus_dir, settings.max_file_mb, fp)
            stats.note(source, st, doc.content_hash)
        except LoadError as e:
            report.warnings.append(f"skipped {path.name}: {e}")
            report.skipped += 1
            continue
        seen_ids.add(doc.doc_id)
        twin = seen_hash.get(doc.content_hash)
        if twin and twin != doc.source:
            report.warnings.append(f"skipped {path.name}: same content as {twin} (already indexed)")
            report.skipped += 1
            continue
        seen_hash[doc.content_hash] = doc.source
        if old is None:
            reason = "new"
        elif fp and not parse(old.fingerprint):
            reason = "built before fingerprints were recorded"
        else:
            reason = ", ".join(changes(parse(old.fingerprint), fp)) if fp else ""
            reason = reason or "changed"
        out.todo.append(Todo(doc, old is not None, reason, old.fingerprint if old else ""))
    for rec in records.values():
        if rec.doc_id in seen_ids:
            continue  # first: two Paths per record were 3 s of an unchanged re-ingest at 168k documents
        # Sources are corpus-relative, so a moved corpus folder is judged where it is now.
        where = Path(rec.source) if Path(rec.source).is_absolute() else Path(settings.corpus_dir) / rec.source
        if _under(str(where.resolve()), roots) and not where.exists():
            out.gone.append(rec)
    return out


def _embed_and_write(settings, store, todo: list, report: IngestReport, progress: bool, embedder,
                     lease=None) -> None:
    """Chunk, embed and write the documents of ``todo``, a group of documents at a time.

    One encode call per ENCODE_GROUP texts and one write per group, across documents: length-sorted
    batches across documents pad far less than per-document calls, and batched upserts cost a
    third. The group's named entities are extracted on a second thread while its texts are encoded
    (spaCy and the ONNX encoder share the two cores: 15.5 -> 10.2 s on 2.2k texts; with torch it is
    a wash). Each group's manifest switch comes after all its vectors are written.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from .embed import get_embedder

    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="text", desc="embedding", file=sys.stderr, leave=False)
    if todo and embedder is None:
        embedder = get_embedder(settings)

    def tick(n: int) -> None:
        if bar:
            bar.update(n)

    group: list = []  # (Todo, chunks, sentences) of the documents of the group being gathered
    ner = ThreadPoolExecutor(1, thread_name_prefix="docqa-ner")

    def flush() -> None:
        sentences = [x.text for _, _, ss in group for x in ss]
        ents = ner.submit(entities, sentences)
        order = [r for t, cs, ss in group for r in store.rows(t.doc, cs, ss)]  # the texts, in write order
        embs = []
        for i in range(0, len(order), ENCODE_GROUP):
            embs.append(embedder.encode([r[2] for r in order[i:i + ENCODE_GROUP]], progress=tick))
            crash_point("during_embedding")
        found, rows, at = ents.result(), [], 0
        for t, cs, ss in group:
            rows += store.rows(t.doc, cs, ss, found[at:at + len(ss)])
            at += len(ss)
        store.write_rows(rows, np.concatenate(embs) if embs else [])
        if lease:
            lease.check()  # a writer that lost its lease must not switch the manifest
        store.switch([(t.doc, len(cs), len(ss)) for t, cs, ss in group],
                     replacing={t.doc.doc_id for t, _, _ in group if t.existed})
        for t, cs, ss in group:
            report.chunks += len(cs)
            report.sentences += len(ss)
            report.updated += t.existed
            report.added += not t.existed
        group.clear()

    try:
        queued = 0
        for t in todo:
            chunks, sentences = chunk_document(t.doc, settings.chunk_size, settings.chunk_overlap,
                                               settings.model_path)
            group.append((t, chunks, sentences))
            queued += len(chunks) + len(sentences)
            if bar:
                bar.total += len(chunks) + len(sentences)
                bar.refresh()
            if queued >= ENCODE_GROUP:
                flush()
                queued = 0
        if group:
            flush()
    finally:
        ner.shutdown(wait=True)
        if bar:
            bar.close()


def run_ingest(settings, paths: list[Path] | None = None, rebuild: bool = False, progress: bool = True,
               log=None, embedder=None, wait: bool = True) -> IngestReport:
    """Index ``paths`` (default: the corpus folder) into the Chroma index of ``settings``.

    Holds the index's writer lock throughout (``ingest.lock``; ``wait=False`` raises
    IndexBusyError instead of waiting for another writer). Sweeps leftovers only when the
    last writer died; logs why documents whose fingerprint changed are re-processed.
    """
    from .embed import model_identity
    from .encoders import encoder_identity
    from .fingerprint import fingerprint
    from .lock import writer_lock
    from .store import open_store

    log = log or (lambda msg: print(msg, file=sys.stderr))
    t0 = time.perf_counter()
    report = IngestReport()
    roots = [Path(p) for p in (paths or [settings.corpus_dir])]
    files, warnings = discover(roots)
    report.warnings.extend(warnings)
    report.skipped += len([w for w in warnings if w.startswith("skipped")])

    # The model loads (seconds) only if something needs embedding; name and dim come from its config.
    model_name, dim = (embedder.name, embedder.dim) if embedder else model_identity(settings.model_path)
    encoder_id = embedder.encoder_id if embedder else encoder_identity(settings)
    fp = fingerprint(settings, model_name, encoder_id)
    if embedder is None and settings.encoder != "torch":
        from .onnx_encoder import model_file

        # Built here, once per machine (~15 s), never by a query process: `docqa ask` then finds it.
        model_file(settings.model_path, settings.encoder)
    with writer_lock(settings, wait=wait, log=log) as lease:
        if rebuild:
            _drop_index(settings)
        store = open_store(settings, model_name, dim, create=True, encoder_id=encoder_id)
        dirty = store.left_dirty()
        if dirty:
            dead = store.dirty_docs()  # what the writer that died was writing (None: unknown)
            store.begin_write(dead)  # should this run die too, the next one sweeps the same
            report.repaired = store.sweep(dead)
        records = store.records()
        stats = FileStats(Path(settings.index_dir) / f"filestat-{settings.collection}.json", key(fp))
        work = plan(settings, files, roots, records, report, fp, stats)
        stats.save(keep={r.source for r in records.values()})
        report.reasons = work.reasons(fp)
        for line in report.reasons:
            log(line)
        changed = bool(work.todo or work.gone)
        if changed:
            store.begin_write([t.doc.doc_id for t in work.todo] + [r.doc_id for r in work.gone])
        for rec in work.gone:
            store.remove_document(rec.doc_id)
            report.removed += 1
        _embed_and_write(settings, store, work.todo, report, progress, embedder, lease)
        if changed or dirty or rebuild:
            from .lexical import build_lexical_index

            build_lexical_index(settings, store)
        rebuilt = {t.doc.doc_id for t in work.todo} | {r.doc_id for r in work.gone}
        if store.index_fingerprint() != fp and all(parse(r.fingerprint) == fp for r in records.values()
                                                   if r.doc_id not in rebuilt):
            store.set_index_fingerprint(fp)  # every document is now built this way
        if store.legacy and all(parse(r.fingerprint) == fp for r in records.values() if r.doc_id not in rebuilt):
            store.drop_legacy()  # every document is in the new layout: readers may open it now
        if changed or dirty:
            store.end_write()
        elif not store.has_stamp():
            store.bump_generation()  # an index from before stamps: its first run writes one
        # Nothing written: the manifest's counts are the index's (a full count cost 0.3 s at 100k chunks).
        report.total_chunks = store.chunks.count() if changed or dirty or rebuild \
            else sum(r.n_chunks for r in records.values())
    report.seconds = time.perf_counter() - t0
    for w in report.warnings:
        log(f"warning: {w}")
    return report
