"""The document library behind the UI: list, add, re-index and delete documents.

``Library`` holds what is costly to load (the embedding model) once per
process and serialises index writes (in this process, and through the
index's writer lock, ``ingest.lock``, with every other writer), so the UI's
handlers stay one-liners.
Deleting a corpus file moves it to ``<corpus>/.trash/`` (ingest skips dot
folders) and re-runs the incremental ingest: recoverable, and the index and
the folder never disagree.
"""
from __future__ import annotations

import datetime
import threading
import time
from collections import Counter
from pathlib import Path

from core.errors import InputError
from core.text import name_runs

TRASH = ".trash"


class Library:
    """Documents of one index (``settings``), with a lazily loaded, shared embedding model."""

    def __init__(self, settings, embedder=None):
        self.settings = settings
        self._embedder = embedder
        self._lock = threading.Lock()  # one index write at a time; asks read concurrently
        self._load_lock = threading.Lock()

    # -- resources ----------------------------------------------------------
    @property
    def embedder(self):
        """The embedding model, loaded on first use (seconds) and then reused."""
        if self._embedder is None:
            from ingest.embed import get_embedder

            with self._load_lock:
                if self._embedder is None:
                    self._embedder = get_embedder(self.settings)
        return self._embedder

    def store(self):
        """The open index, or None when nothing is indexed yet."""
        from ingest.store import open_store, read_index_model

        model = read_index_model(self.settings)
        return open_store(self.settings, model[0], model[1]) if model else None

    # -- reading ------------------------------------------------------------
    def documents(self) -> list[list]:
        """Rows of [title, file, chunks, indexed at] for every indexed document, by file name."""
        store = self.store()
        if store is None:
            return []
        rows = []
        for r in sorted(store.records().values(), key=lambda r: r.source.lower()):
            when = datetime.datetime.fromtimestamp(r.indexed_at).strftime("%Y-%m-%d %H:%M")
            rows.append([r.title, r.source, r.n_chunks, when])
        return rows

    def example_questions(self, n: int = 4) -> list[str]:
        """Up to ``n`` questions drawn from the corpus: its recurring names, then its titles."""
        store = self.store()
        if store is None:
            return []
        records = sorted(store.records().values(), key=lambda r: r.source)[:50]
        freq: Counter = Counter()
        count: Counter = Counter()
        for r in records:
            text = (store.document_text(r.doc_id) or "")[:20000]
            found = []
            for line in text.splitlines():
                if len(line.split()) < 8 or not line.rstrip().endswith((".", "!", "?", "”", '"')):
                    continue  # headings and titles are Title Case throughout: no signal there
                found += [p for p in name_runs(line.strip(), min_words=2) if len(p) <= 60]
            freq.update(set(found))
            count.update(found)
        # Names the corpus keeps coming back to first, then the most specific (longest) ones.
        ranked = sorted(freq, key=lambda p: (-freq[p], -count[p], -len(p.split()), p))
        out = [f"What do the documents say about {p}?" for p in ranked[:n // 2]]
        for r in records:
            if len(out) >= n:
                break
            title = r.title.strip().rstrip(".")
            if 10 <= len(title) <= 90 and not title.endswith("…"):  # "…": a cut first sentence, not a title
                out.append(f"What does the article “{title}” report?")
        return out[:n]

    # -- writing ------------------------------------------------------------
    def reindex(self, rebuild: bool = False, progress: bool = True) -> str:
        """Bring the index in line with the corpus folder; returns the one-line result."""
        from ingest.pipeline import run_ingest

        warnings: list[str] = []
        with self._lock:
            report = run_ingest(self.settings, rebuild=rebuild, progress=progress, log=warnings.append,
                                embedder=self.embedder)
        line = report.summary()
        if warnings:
            line += " | " + "; ".join(w.removeprefix("warning: ") for w in warnings[:3])
            if len(warnings) > 3:
                line += f"; and {len(warnings) - 3} more warnings"
        return line

    def add_files(self, files: list, progress: bool = True) -> str:
        """Save uploads (paths whose names are the original names) into the corpus, then index them."""
        from .uploads import save_upload

        if not files:
            raise InputError("no file chosen; pick one or more files to upload first")
        saved, errors = [], []
        for f in files:
            path = Path(getattr(f, "name", f))
            try:
                saved.append(save_upload(path, path.name, self.settings).name)
            except InputError as e:
                errors.append(str(e))
        if not saved:
            raise InputError(errors[0] if len(errors) == 1 else "; ".join(errors))
        line = f"saved {', '.join(saved)}; " + self.reindex(progress=progress)
        return line + (" | not saved: " + "; ".join(errors) if errors else "")

    def delete(self, source: str, progress: bool = True) -> str:
        """Remove one document from the index (a corpus file is moved to ``.trash/``)."""
        from ingest.lexical import build_lexical_index

        source = (source or "").strip()
        store = self.store()
        records = store.records() if store else {}
        match = [r for r in records.values() if r.source == source]
        if not source or not match:
            raise InputError(f"no indexed document named {source!r}; pick one from the documents list")
        rec = match[0]
        corpus = Path(self.settings.corpus_dir).resolve()
        path = corpus / rec.source  # sources of corpus files are clean relative paths (pipeline.source_name)
        if not Path(rec.source).is_absolute() and (path.exists() or path.is_symlink()):
            trash = corpus / TRASH
            trash.mkdir(exist_ok=True)
            dest = trash / f"{time.strftime('%Y%m%d-%H%M%S')}_{path.name}"
            path.rename(dest)
            return f"deleted {rec.source} (moved to {TRASH}/{dest.name}); " + self.reindex(progress=progress)
        # Indexed from outside the corpus folder (`docqa ingest other/`): forget it, never touch the file.
        from ingest.lock import writer_lock

        with self._lock, writer_lock(self.settings):  # one writer at a time, across processes too
            store = self.store()
            if store is None or rec.doc_id not in store.records():
                return f"{rec.source} was already removed from the index"
            if store.left_dirty():  # a writer died: repair first (pipeline.run_ingest does the same)
                dead = store.dirty_docs()
                store.begin_write(dead)
                store.sweep(dead)
            store.begin_write([rec.doc_id])
            store.remove_document(rec.doc_id)
            build_lexical_index(self.settings, store)
            store.end_write()
        return f"removed {rec.source} from the index (the file outside the corpus folder was left alone)"
