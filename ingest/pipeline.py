"""``run_ingest``: bring the index in line with the documents on disk, incrementally.

Documents are identified by path (doc_id) and content hash. Unchanged files
embed nothing; changed files have their chunks replaced; files gone from a
scanned folder are removed; ``rebuild`` starts clean. A run killed half-way is
repaired by the next one (see store.py for the write order).
"""
from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .chunk import chunk_document
from .clean import clean_text
from .load import LoadError, discover, load_file
from .faults import crash_point
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

    def summary(self) -> str:
        """The one-line summary printed at the end of `docqa ingest`."""
        embedded = (f"embedded {self.chunks} chunks + {self.sentences} sentences" if self.chunks
                    else "nothing to embed, index up to date")
        return (f"{self.added} added, {self.updated} updated, {self.removed} removed, {self.unchanged} unchanged, "
                f"{self.skipped} skipped; {embedded}; {self.total_chunks} chunks indexed; {self.seconds:.1f}s")


def source_name(path: Path, corpus_dir: Path) -> str:
    """The name a document is known by: its path inside the corpus, else its absolute path."""
    try:
        return path.resolve().relative_to(Path(corpus_dir).resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def prepare_document(path: Path, corpus_dir: Path, max_mb: int = 10) -> Document:
    """Load and clean one file into a Document; raises LoadError."""
    raw, data = load_file(path, max_bytes=max_mb * 1024 * 1024)
    source = source_name(path, corpus_dir)
    cleaned = clean_text(raw, fallback_title=path.stem)
    if not cleaned.text.strip():
        raise LoadError("nothing left after cleaning (only boilerplate?)")
    return Document(doc_id=content_id(source), source=source, path=str(path.resolve()), title=cleaned.title,
                    text=cleaned.text, content_hash=hashlib.sha256(data).hexdigest())


def _under(path: str, roots: list[Path]) -> bool:
    p = Path(path)
    for r in roots:
        r = r.resolve()
        if p == r or r in p.parents:
            return True
    return False


def _drop_index(settings) -> None:
    """Delete the collections of this index, whatever model built them."""
    from .store import KINDS, connect

    client = connect(settings)
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    for kind in KINDS:
        if f"{settings.collection}_{kind}" in names:
            client.delete_collection(f"{settings.collection}_{kind}")


# Texts per encode call and per write. Larger groups pad less (ST sorts each call by length) and
# write in fewer Chroma calls; 4096 vectors are 6 MB. A killed run loses at most one group's work.
ENCODE_GROUP = 4096


def _encode_groups(prepared: list) -> list[list]:
    """Consecutive documents grouped until each group has at least ENCODE_GROUP texts."""
    groups, cur, n = [], [], 0
    for item in prepared:
        cur.append(item)
        n += len(item[2]) + len(item[3])
        if n >= ENCODE_GROUP:
            groups.append(cur)
            cur, n = [], 0
    if cur:
        groups.append(cur)
    return groups


@dataclass
class Plan:
    """What a run will do: documents to (re-)embed and documents to forget."""

    todo: list = field(default_factory=list)  # (Document, existed)
    gone: list = field(default_factory=list)  # DocRecord of files removed from a scanned folder


def plan(settings, files: list[Path], roots: list[Path], records: dict, report: IngestReport) -> Plan:
    """Compare the files on disk with the manifest ``records`` (cleaning each file, embedding nothing)."""
    out = Plan()
    seen_hash: dict[str, str] = {r.content_hash: r.source for r in records.values()}
    seen_ids: set[str] = set()
    for path in files:
        try:
            doc = prepare_document(path, settings.corpus_dir, settings.max_file_mb)
        except LoadError as e:
            report.warnings.append(f"skipped {path.name}: {e}")
            report.skipped += 1
            continue
        seen_ids.add(doc.doc_id)
        old = records.get(doc.doc_id)
        if old and old.content_hash == doc.content_hash:
            report.unchanged += 1
            continue
        twin = seen_hash.get(doc.content_hash)
        if twin and twin != doc.source:
            report.warnings.append(f"skipped {path.name}: same content as {twin} (already indexed)")
            report.skipped += 1
            continue
        seen_hash[doc.content_hash] = doc.source
        out.todo.append((doc, old is not None))
    for rec in records.values():
        # Sources are corpus-relative, so a moved corpus folder is judged where it is now.
        where = Path(rec.source) if Path(rec.source).is_absolute() else Path(settings.corpus_dir) / rec.source
        if rec.doc_id not in seen_ids and _under(str(where.resolve()), roots) and not where.exists():
            out.gone.append(rec)
    return out


def _embed_and_write(settings, store, todo: list, report: IngestReport, progress: bool, embedder) -> None:
    """Chunk, embed and write the documents of ``todo``, one group of documents at a time."""
    from .embed import get_embedder

    prepared = []
    for doc, existed in todo:
        chunks, sentences = chunk_document(doc, settings.chunk_size, settings.chunk_overlap, settings.model_path)
        prepared.append((doc, existed, chunks, sentences))
    total = sum(len(c) + len(s) for _, _, c, s in prepared)
    bar = None
    if progress and total:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="text", desc="embedding", file=sys.stderr, leave=False)
    tick = bar.update if bar else None
    if prepared and embedder is None:
        embedder = get_embedder(settings.model_path, settings.embed_batch_size)
    try:
        for group in _encode_groups(prepared):
            # One encode call and one write per group of documents: length-sorted batches across
            # documents pad far less than per-document calls, and batched upserts cost a third.
            texts = [t.text for _, _, c, s in group for t in (*c, *s)]
            embs = embedder.encode(texts, progress=tick).tolist()
            crash_point("during_embedding")
            items, at = [], 0
            for doc, existed, chunks, sentences in group:
                n_c, n_s = len(chunks), len(sentences)
                items.append((doc, chunks, embs[at:at + n_c], sentences, embs[at + n_c:at + n_c + n_s]))
                at += n_c + n_s
            store.put_documents(items, replacing={d.doc_id for d, existed, _, _ in group if existed})
            for doc, existed, chunks, sentences in group:
                report.chunks += len(chunks)
                report.sentences += len(sentences)
                report.updated += existed
                report.added += not existed
    finally:
        if bar:
            bar.close()


def run_ingest(settings, paths: list[Path] | None = None, rebuild: bool = False, progress: bool = True,
               log=None, embedder=None) -> IngestReport:
    """Index ``paths`` (default: the corpus folder) into the Chroma index of ``settings``."""
    from .embed import model_identity
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
    if rebuild:
        _drop_index(settings)
    store = open_store(settings, model_name, dim, create=True)
    report.repaired = store.sweep()
    work = plan(settings, files, roots, store.records(), report)
    for rec in work.gone:
        store.remove_document(rec.doc_id)
        report.removed += 1
    _embed_and_write(settings, store, work.todo, report, progress, embedder)

    if report.added or report.updated or report.removed or report.repaired or rebuild:
        from .lexical import build_lexical_index

        build_lexical_index(settings, store)
    report.total_chunks = store.chunks.count()
    report.seconds = time.perf_counter() - t0
    for w in report.warnings:
        log(f"warning: {w}")
    return report
