"""``docqa eval``: answer every question of an eval set and score retrieval, answers,
citations, refusal and latency, overall and per question type.

``run_eval`` does the work and returns an ``EvalResult``; ``main`` is the CLI
edge (throwaway index for ``--corpus`` / ``--format squad``, reports, the
comparison with a ``--baseline`` report, and the ``--fail-under`` /
``--fail-over`` / ``--fail-drop`` gates). Metric definitions: eval/metrics.py
and eval/README.md.
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import DocqaError, IndexMissingError, InputError

from . import metrics as M
from .evalset import TYPES, EvalItem, load_evalset, squad_to_corpus

QUALITY_PARTS = ("hit@k", "key_fact_recall", "containment", "citation_precision", "refusal_rate")
ALL_METRICS = M.METRICS + ("quality",)


@dataclass
class EvalResult:
    """Per-question rows, aggregates overall and per type, and run metadata."""

    rows: list[dict]
    overall: dict
    by_type: dict[str, dict]
    meta: dict = field(default_factory=dict)

    @property
    def weakest_type(self) -> str | None:
        """The type with the lowest quality score (ties: the first in TYPES order)."""
        scored = [(m["quality"], t) for t, m in self.by_type.items() if m.get("quality") is not None]
        return min(scored, key=lambda x: x[0])[1] if scored else None

    def metric(self, name: str, qtype: str | None = None):
        """A metric overall, or for one type (None when undefined or the type is absent)."""
        return (self.overall if qtype is None else self.by_type.get(qtype, {})).get(name)

    def to_json(self) -> dict:
        return {"meta": self.meta, "overall": self.overall, "by_type": self.by_type,
                "weakest_type": self.weakest_type, "questions": self.rows}


def _quality(m: dict) -> float | None:
    """One headline number per group: mean of the defined quality metrics, with
    false refusals counted as (1 - false_refusal_rate)."""
    parts = [m.get(k) for k in QUALITY_PARTS]
    if m.get("false_refusal_rate") is not None:
        parts.append(1.0 - m["false_refusal_rate"])
    return M.mean(parts)


def aggregate(rows: list[dict]) -> tuple[dict, dict[str, dict]]:
    """(overall, by_type) metric dicts for per-question rows."""
    overall = M.summarize(rows)
    overall["quality"] = _quality(overall)
    order = list(TYPES) + ["other"]
    by_type = {}
    for t in sorted({r["type"] for r in rows}, key=order.index):
        by_type[t] = M.summarize([r for r in rows if r["type"] == t])
        by_type[t]["quality"] = _quality(by_type[t])
    return overall, by_type


class _Docs:
    """Cleaned text of indexed documents, by source name, read lazily from the store."""

    def __init__(self, store):
        self.store = store
        self.ids = {r.source: r.doc_id for r in store.records().values()}
        self._text: dict[str, str | None] = {}

    def get(self, source: str) -> str | None:
        if source not in self._text:
            did = self.ids.get(source) or next(
                (d for s, d in self.ids.items() if Path(s).name == Path(str(source)).name), None)
            self._text[source] = self.store.document_text(did) if did else None
        return self._text[source]

    def find_spans(self, item: EvalItem) -> tuple[dict, list[str]]:
        """Evidence offsets per source, and the evidence strings found nowhere in the corpus."""
        names = [s for s in self.ids if not item.sources or Path(s).name in {Path(x).name for x in item.sources}]
        spans, missing = {}, []
        for e in item.evidence:
            found = False
            for s in names:
                text = self.get(s) or ""
                got = M.evidence_spans(text, [e])
                if got:
                    spans.setdefault(s, []).extend(got)
                    found = True
                elif M.normalize(e) in M.normalize(text):
                    found = True
            if not found:
                missing.append(e)
        return spans, missing


def _cite(c) -> dict:
    return {"n": c.n, "source": c.source, "quote": c.quote, "start": c.start, "end": c.end,
            "chunk_id": c.chunk_id}


def evaluate_item(item: EvalItem, settings, k: int, mode: str, embedder, store, docs: _Docs) -> dict:
    """Answer one question and score it; a DocqaError becomes the row's ``error``."""
    from qa.answer import answer
    from qa.retrieve import retrieve

    history = [dict(h) for h in item.history] or None
    row = {"id": item.id, "type": item.type, "line": item.line, "question": item.question,
           "history": list(item.history), "gold": item.to_json(), "unanswerable": item.unanswerable,
           "answer": "", "refused": False, "mode": mode, "note": "", "citations": [], "retrieved": [],
           "latency_ms": None, "timings_ms": {}, "error": None, "scores": {}}
    del row["gold"]["history"], row["gold"]["question"]
    try:
        # Answer first, timed: the retrieval below then reuses its query vector, so latency is that
        # of a new question (query embedding included), as `docqa bench` measures it.
        t0 = time.perf_counter()
        ans = answer(item.question, history=history, settings=settings, mode=mode, k=k,
                     embedder=embedder, store=store)
        row["latency_ms"] = (time.perf_counter() - t0) * 1000.0
        passages = retrieve(item.question, settings, k=k, history=history, embedder=embedder, store=store)
    except DocqaError as e:
        row["error"] = str(e)
        return row
    ps = [{"chunk_id": p.chunk_id, "source": p.source, "text": p.text, "start": p.start, "end": p.end,
           "score": float(p.score)} for p in passages]
    cites = [_cite(c) for c in ans.citations]
    spans, missing = docs.find_spans(item)
    row.update(answer=ans.text, refused=bool(ans.refused), mode=ans.mode, note=ans.note, citations=cites,
               timings_ms={key: float(v) for key, v in dict(ans.timings_ms).items()},
               related=[_cite(c) for c in ans.related], evidence_not_in_corpus=missing)
    row["retrieved"] = [{"rank": i, "chunk_id": p["chunk_id"], "source": p["source"], "start": p["start"],
                         "end": p["end"], "score": round(p["score"], 4),
                         "relevant": M.passage_relevant(p["text"], p["source"], item.evidence, item.sources)}
                        for i, p in enumerate(ps, 1)]
    text = "" if ans.refused else ans.text  # a refusal states no facts, whatever its wording
    answerable = not item.unanswerable  # nothing to retrieve for a question the documents cannot answer
    row["scores"] = {
        "hit@k": M.hit_at_k(ps, item.evidence, item.sources, k) if answerable else None,
        "mrr": M.reciprocal_rank(ps, item.evidence, item.sources, k) if answerable else None,
        "evidence_recall": M.evidence_recall(ps, item.evidence, k) if answerable else None,
        "key_fact_recall": M.key_fact_recall(text, item.key_facts),
        "containment": M.containment(text, item.answer),
        "citation_validity": M.citation_validity(cites, {c["source"]: docs.get(c["source"]) for c in cites}),
        "citation_precision": M.citation_precision(cites, item.evidence, spans),
    }
    return row


def run_eval(items: list[EvalItem], settings, k: int | None = None, mode: str | None = None,
             progress: bool = True, embedder=None, store=None, meta: dict | None = None) -> EvalResult:
    """Answer and score every item against the index of ``settings``.

    One untimed warm-up question runs first, so latency measures answering,
    not lazy model loading.
    """
    from ingest.embed import get_embedder
    from ingest.store import open_store, read_index_model

    k = k or settings.top_k
    mode = mode or settings.mode
    if store is None:
        if read_index_model(settings) is None:
            raise IndexMissingError("no index yet: run `docqa ingest` first, or pass --corpus DIR")
        embedder = embedder or get_embedder(settings)
        store = open_store(settings, embedder.name, embedder.dim, encoder_id=embedder.encoder_id)
    embedder = embedder or get_embedder(settings)
    docs = _Docs(store)
    if items:
        from qa.answer import answer

        try:
            answer(items[0].question, settings=settings, mode=mode, k=k, embedder=embedder, store=store)
        except DocqaError:
            pass  # the real run records it per question
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), desc="eval", unit="q", file=sys.stderr, leave=False)
    rows = []
    try:
        for item in items:
            rows.append(evaluate_item(item, settings, k, mode, embedder, store, docs))
            if bar:
                bar.update(1)
    finally:
        if bar:
            bar.close()
    overall, by_type = aggregate(rows)
    warnings = list((meta or {}).get("warnings", []))
    for r in rows:
        for e in r.get("evidence_not_in_corpus") or []:
            warnings.append(f"{r['id']}: evidence not found in the corpus: {e[:80]!r}")
    info = {"k": k, "mode": mode, "model": embedder.name, "n_docs": len(docs.ids),
            "errors": sum(1 for r in rows if r["error"]), **(meta or {}), "warnings": warnings}
    return EvalResult(rows=rows, overall=overall, by_type=by_type, meta=info)


# -- gates -----------------------------------------------------------------
def _split_spec(spec: str, flag: str, what: str) -> tuple[str | None, str, float]:
    """``[TYPE/]METRIC=NUMBER`` -> (type or None, metric, number); InputError on a typo."""
    name, sep, value = spec.rpartition("=")
    qtype, _, metric = name.rpartition("/") if "/" in name else ("", "", name)
    try:
        v = float(value)
    except ValueError:
        v = None
    if not sep or v is None or metric not in ALL_METRICS:
        raise InputError(f"{flag} {spec!r}: expected [TYPE/]METRIC={what} with METRIC one of "
                         f"{', '.join(ALL_METRICS)}")
    if qtype and qtype not in TYPES + ("other",):
        raise InputError(f"{flag} {spec!r}: unknown type {qtype!r}; types: {', '.join(TYPES)}")
    return qtype or None, metric, v


def parse_gates(specs: list[str], flag: str) -> list[tuple[str | None, str, float]]:
    """Parse ``[TYPE/]METRIC=VALUE`` specs; raises InputError on a typo."""
    gates = []
    for spec in specs or []:
        qtype, metric, v = _split_spec(spec, flag, "NUMBER")
        lower_better = metric in M.LOWER_IS_BETTER
        if flag == "--fail-under" and lower_better:
            raise InputError(f"{metric} is lower-is-better: use --fail-over {spec} (fails when it is above)")
        if flag == "--fail-over" and not lower_better:
            raise InputError(f"{metric} is higher-is-better: use --fail-under {spec}")
        gates.append((qtype, metric, v))
    return gates


def parse_drops(specs: list[str]) -> list[tuple[str | None, str, float]]:
    """Parse ``--fail-drop [TYPE/]METRIC=DELTA`` specs (DELTA >= 0); raises InputError on a typo."""
    gates = []
    for spec in specs or []:
        gate = _split_spec(spec, "--fail-drop", "DELTA")
        if gate[2] < 0:
            raise InputError(f"--fail-drop {spec!r}: DELTA is how much worse a metric may get, so >= 0")
        gates.append(gate)
    return gates


def check_drops(result: EvalResult, baseline: dict, drops) -> list[str]:
    """Messages for every metric that got worse than the baseline by more than its delta.

    Worse means lower for most metrics, higher for the lower-is-better ones (false refusals,
    latency). A metric missing from either run fails: a gate on nothing is no gate.
    """
    failures = []
    for qtype, metric, delta in drops:
        label = f"{qtype}/{metric}" if qtype else metric
        now = result.metric(metric, qtype)
        old = (baseline.get("overall") if qtype is None else (baseline.get("by_type") or {}).get(qtype, {})) or {}
        old = old.get(metric)
        if now is None or old is None:
            failures.append(f"{label}: no data in {'this run' if now is None else 'the baseline'} to compare")
            continue
        worse = (now - old) if metric in M.LOWER_IS_BETTER else (old - now)
        if worse > delta + 1e-12:
            verb = "rose" if metric in M.LOWER_IS_BETTER else "dropped"
            failures.append(f"{label} {verb} by {worse:.3f} (baseline {old:.3f}, now {now:.3f}), more than {delta:g}")
    return failures


def check_gates(result: EvalResult, under, over) -> list[str]:
    """Messages for every gate that fails; a metric with no data fails too (a gate on nothing)."""
    failures = []
    for gates, below in ((under, True), (over, False)):
        for qtype, metric, limit in gates:
            label = f"{qtype}/{metric}" if qtype else metric
            got = result.metric(metric, qtype)
            if got is None:
                failures.append(f"{label}: no data (no question defines it)")
            elif (got < limit) if below else (got > limit):
                failures.append(f"{label} = {got:.3f} is {'below' if below else 'above'} {limit:g}")
    return failures


def main(args, settings) -> int:
    """`docqa eval`: 0 when every gate passes, 1 when one fails (2 via InputError from the CLI)."""
    from .report import LEGEND, compare, load_baseline, render_comparison, render_table, write_reports

    under = parse_gates(args.fail_under, "--fail-under")
    over = parse_gates(getattr(args, "fail_over", []), "--fail-over")
    drops = parse_drops(getattr(args, "fail_drop", []))
    baseline = load_baseline(args.baseline) if getattr(args, "baseline", None) else None
    if drops and baseline is None:
        raise InputError("--fail-drop compares with a baseline: add --baseline OLD/report.json")
    progress = not getattr(args, "quiet", False)
    if args.format == "squad" and args.corpus:
        raise InputError("--corpus cannot be combined with --format squad: the SQuAD contexts are the corpus")
    if args.corpus and not Path(args.corpus).is_dir():
        raise InputError(f"--corpus {args.corpus}: no such folder")
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    k = args.k or settings.top_k
    with tempfile.TemporaryDirectory(prefix="docqa-eval-", ignore_cleanup_errors=True) as tmp:
        meta = {"set": str(args.set)}
        if args.format == "squad":
            corpus = Path(tmp) / "corpus"
            items, warnings = squad_to_corpus(args.set, corpus)
        else:
            corpus = Path(args.corpus) if args.corpus else None
            items, warnings = load_evalset(args.set)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        items = items[: args.limit] if args.limit else items
        meta["warnings"] = warnings
        embedder = store = None
        if corpus is not None:
            # A throwaway embedded index: the main index (or Chroma server) is never touched.
            from ingest.embed import get_embedder
            from ingest.pipeline import run_ingest
            from ingest.store import open_store

            settings = settings.replace(corpus_dir=corpus, index_dir=Path(tmp) / "index", chroma_mode="embedded")
            embedder = get_embedder(settings)
            rep = run_ingest(settings, progress=progress, embedder=embedder)
            if not rep.total_chunks:
                raise InputError(f"nothing could be indexed from {corpus}; it needs .txt/.md/.html/.pdf/.docx files")
            store = open_store(settings, embedder.name, embedder.dim, encoder_id=embedder.encoder_id)
            meta["index"] = f"throwaway index of {corpus if args.format != 'squad' else args.set}"
        else:
            meta["index"] = str(settings.index_dir if settings.chroma_mode == "embedded"
                                else f"chroma {settings.chroma_host}:{settings.chroma_port}")
        result = run_eval(items, settings, k=k, mode=args.mode, progress=progress, embedder=embedder,
                          store=store, meta=meta)
    print(render_table(result))
    print(LEGEND)
    print(f"weakest type: {result.weakest_type or '-'}"
          + (f"; {result.meta['errors']} question(s) failed with an error" if result.meta["errors"] else ""))
    comparison = compare(result, baseline) if baseline else None
    if comparison:
        print(render_comparison(comparison, result.meta))
    if args.out:
        paths = write_reports(result, args.out, comparison)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    failures = check_gates(result, under, over) + (check_drops(result, baseline, drops) if baseline else [])
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    return 1 if failures else 0
