"""``make eval-all``: every question set in one table, so a change to answering is judged on all of them.

    python -m eval.suite [--datasets ../shared/datasets] [--k 5] [--out report-all/]

Runs the bundled sets (``eval/seed_qa.jsonl``, ``eval/casual_qa.jsonl``) against an index of
``corpus/`` and the external development sets (SQuAD 2.0 ``eval.jsonl``, CLAPNQ ``eval.jsonl``)
against indexes of their own corpora. The indexes live under ``<index_dir>/calibrate/`` (shared with
``eval.calibrate``) and are brought up to date, not rebuilt, on every run. Sets whose files are
missing are skipped with a line saying so.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .calibrate import ROOT, _index

COLUMNS = (("hit@k", "hit@5"), ("mrr", "MRR"), ("key_fact_recall", "key facts"),
           ("citation_validity", "cite valid"), ("citation_precision", "cite prec"),
           ("refusal_rate", "unans refused"), ("false_refusal_rate", "ans refused"), ("latency_p50_ms", "p50 ms"))


def sets(datasets: Path) -> list[tuple[str, Path, Path]]:
    """(name, questions, corpus) of every set the suite runs."""
    return [("seed_qa", ROOT / "eval" / "seed_qa.jsonl", ROOT / "corpus"),
            ("casual_qa", ROOT / "eval" / "casual_qa.jsonl", ROOT / "corpus"),
            ("squad2-dev eval", datasets / "squad2-dev" / "eval.jsonl", datasets / "squad2-dev" / "corpus"),
            ("clapnq-dev eval", datasets / "clapnq-dev" / "eval.jsonl", datasets / "clapnq-dev" / "corpus")]


def table(results: list[tuple[str, object]]) -> str:
    """A Markdown table: one row a set, the overall metrics as columns."""
    head = "| set | n | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for name, res in results:
        cells = []
        for key, _ in COLUMNS:
            v = res.overall.get(key)
            cells.append("–" if v is None else (f"{v:.0f}" if key.startswith("latency") else f"{v:.2f}"))
        lines.append(f"| {name} | {len(res.rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every set and print the table (and per-set reports with ``--out``)."""
    import argparse

    from core.offline import enforce_offline

    enforce_offline()
    from core.settings import load_settings
    from eval.evalset import load_evalset
    from eval.runner import run_eval
    from ingest.embed import get_embedder
    from ingest.store import open_store

    p = argparse.ArgumentParser(prog="python -m eval.suite", description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--out", type=Path, help="write each set's report.json/md/png under this folder")
    args = p.parse_args(argv)
    settings = load_settings()
    embedder = get_embedder(settings)
    cache = Path(settings.index_dir) / "calibrate"
    results = []
    for name, questions, corpus in sets(args.datasets):
        if not questions.is_file() or not corpus.is_dir():
            print(f"skipped {name}: {questions} not found", file=sys.stderr)
            continue
        s = _index(settings, corpus, cache, embedder)
        items, _ = load_evalset(questions)
        store = open_store(s, embedder.name, embedder.dim, encoder_id=embedder.encoder_id)
        res = run_eval(items, s, k=args.k, mode="extractive", progress=False, embedder=embedder, store=store,
                       meta={"set": str(questions)})
        results.append((name, res))
        print(f"{name}: done", file=sys.stderr)
        if args.out:
            from eval.report import write_reports

            write_reports(res, args.out / name.replace(" ", "-"))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
