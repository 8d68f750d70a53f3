"""``docqa ingest --dry-run``: what a run would do, after cleaning and chunking, writing nothing.

``dry_run`` plans exactly as ``run_ingest`` does (same ``pipeline.plan``, same
fingerprint) and chunks every document it would (re-)embed, to count chunks and
sentences; it never loads the embedding model, never takes the writer lock (it
only reads) and never creates an index that is not there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LIST_MAX = 20  # documents listed per category; the rest are counted


@dataclass
class DryRun:
    """What a run would do. Each entry is (source, chunks, sentences, reason)."""

    added: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    repair: bool = False  # the last writer died: a run would sweep its leftovers first
    rebuild: bool = False

    def summary(self) -> str:
        """Several lines: each category with counts and (up to LIST_MAX) documents, then why."""
        lines = ["dry run: nothing embedded or written"]
        if self.rebuild:
            lines.append("  would drop the index and build it from scratch")
        if self.repair:
            lines.append("  the last writer did not finish: a run would first sweep what it left")
        for name, items in (("added", self.added), ("updated", self.updated), ("removed", self.removed),
                            ("unchanged", self.unchanged)):
            nc, ns = sum(i[1] for i in items), sum(i[2] for i in items)
            lines.append(f"  {name}: {len(items)} document{'s' if len(items) != 1 else ''}, "
                         f"{nc} chunks, {ns} sentences")
            if name == "unchanged":
                continue
            for src, c, s, why in items[:LIST_MAX]:
                lines.append(f"    {src} ({c} chunks, {s} sentences)" + (f": {why}" if why else ""))
            if len(items) > LIST_MAX:
                lines.append(f"    ... and {len(items) - LIST_MAX} more")
        lines += [f"  {r}" for r in self.reasons]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _existing_store(settings, model_name: str, dim: int):
    """The index, opened for reading; None when there is none (and none is created)."""
    from .store import open_store, read_index_model

    if settings.chroma_mode == "embedded" and not (Path(settings.index_dir) / "chroma").exists():
        return None
    if read_index_model(settings) is None:
        return None
    return open_store(settings, model_name, dim, inspect=True)  # only the manifest is read, nothing written


def dry_run(settings, paths: list[Path] | None = None, rebuild: bool = False) -> DryRun:
    """Plan a run over ``paths`` (default: the corpus folder) and count what it would embed."""
    from .chunk import chunk_document
    from .embed import model_identity
    from .fingerprint import fingerprint
    from .load import discover
    from .pipeline import IngestReport, plan

    out = DryRun(rebuild=rebuild)
    roots = [Path(p) for p in (paths or [settings.corpus_dir])]
    files, warnings = discover(roots)
    model_name, dim = model_identity(settings.model_path)
    fp = fingerprint(settings, model_name)
    store = None if rebuild else _existing_store(settings, model_name, dim)
    records = store.records() if store else {}
    out.repair = bool(store and store.left_dirty())
    report = IngestReport(warnings=list(warnings))
    work = plan(settings, files, roots, records, report, fp)
    for t in work.todo:
        chunks, sentences = chunk_document(t.doc, settings.chunk_size, settings.chunk_overlap, settings.model_path)
        entry = (t.doc.source, len(chunks), len(sentences), "" if t.reason == "new" else t.reason)
        (out.updated if t.existed else out.added).append(entry)
    out.removed = [(r.source, r.n_chunks, r.n_sentences, "file gone") for r in work.gone]
    out.unchanged = [(r.source, r.n_chunks, r.n_sentences, "") for r in work.unchanged]
    out.reasons = work.reasons(fp, would=True)
    out.warnings = report.warnings
    return out
