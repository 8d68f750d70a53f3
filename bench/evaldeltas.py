"""Eval deltas of the encoder variants: every eval set, each variant against the reference (torch).

    python -m bench.evaldeltas [--variants torch,onnx,onnx-int8,onnx-int8-ffn] [--datasets ../shared/datasets]
                               [--work DIR] [--out bench/evaldeltas.json]
    python -m bench.evaldeltas --compare REF_DIR CAND_DIR...   (deltas of `eval.suite --out` folders run elsewhere)

Each variant runs ``python -m eval.suite`` in a subprocess with ``DOCQA_ENCODER`` set and its own index
folder under ``--work`` (the suite builds its indexes there once and only brings them up to date later), so
each index is written by the variant that reads it. The reference is the first variant. A variant passes
the issue's gate when hit@5, MRR, key facts and both refusal rates move by at most GATE on every set;
``answers changed`` counts questions whose answer text differs from the reference's. ``docqa bench``
shows the table of the last run (bench/evaldeltas.json).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import ROOT  # noqa: E402

METRICS = (("hit@k", "hit@5"), ("mrr", "MRR"), ("key_fact_recall", "key facts"),
           ("refusal_rate", "unans refused"), ("false_refusal_rate", "ans refused"))
GATE = 0.01  # issue 13: every metric within 0.01 of the reference encoder's, on every set
VARIANTS = "torch,onnx,onnx-int8,onnx-int8-ffn"


def read_suite(folder: Path) -> dict:
    """set name -> (overall metrics, {question id: answer text}) of an `eval.suite --out` folder."""
    out = {}
    for rep in sorted(Path(folder).glob("*/report.json")):
        data = json.loads(rep.read_text(encoding="utf-8"))
        answers = {str(r.get("id") or r.get("line")): (r.get("answer"), bool(r.get("refused"))) for r in data["questions"]}
        out[rep.parent.name] = (data["overall"], answers)
    return out


def compare(ref: dict, cand: dict) -> list[dict]:
    """One row per set both hold: each metric's delta (candidate - reference) and the answers that changed."""
    rows = []
    for name in ref:
        if name not in cand:
            continue
        (ro, ra), (co, ca) = ref[name], cand[name]
        deltas = {k: (co.get(k) - ro.get(k)) if co.get(k) is not None and ro.get(k) is not None else None
                  for k, _ in METRICS}
        missing = [k for k, _ in METRICS if deltas[k] is None and (co.get(k) is None) != (ro.get(k) is None)]
        changed = sum(1 for q, a in ra.items() if ca.get(q) != a)
        rows.append({"set": name, "n": len(ra), "reference": {k: ro.get(k) for k, _ in METRICS},
                     "delta": deltas, "answers_changed": changed,
                     "within_gate": not missing and all(abs(d) <= GATE + 1e-9 for d in deltas.values() if d is not None)})
    return rows


def run_variant(variant: str, work: Path, datasets: Path, log) -> Path:
    """``eval.suite`` with ``DOCQA_ENCODER=variant`` and its own indexes; returns its --out folder."""
    out = work / "reports" / variant
    env = dict(os.environ, DOCQA_ENCODER=variant, DOCQA_INDEX_DIR=str(work / "indexes" / variant))
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "eval.suite", "--datasets", str(datasets), "--out", str(out)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=7200)
    if p.returncode != 0:
        raise RuntimeError(f"eval.suite with encoder {variant} failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}")
    log(f"evaldeltas: {variant} done in {time.perf_counter() - t:.0f}s")
    return out


def markdown(res: dict) -> list[str]:
    """The deltas table: one row per (variant, set)."""
    L = [f"Eval deltas against {res['reference']} ({res.get('date', '?')}; `{res.get('command', '')}`): candidate minus "
         f"reference, every set of `python -m eval.suite`; gate: every metric within {GATE}. 'answers changed' counts "
         "questions whose answer text or refusal differs; – : the set has no such labels.", "",
         "| variant | set | n | " + " | ".join(f"Δ {label}" for _, label in METRICS) + " | answers changed | within gate |",
         "|---|---|---|" + "---|" * (len(METRICS) + 2)]
    for v in res["variants"]:
        for r in v["sets"]:
            cells = " | ".join("–" if r["delta"][k] is None else f"{r['delta'][k]:+.3f}" for k, _ in METRICS)
            L.append(f"| {v['variant']} | {r['set']} | {r['n']} | {cells} | {r['answers_changed']} | "
                     f"{'yes' if r['within_gate'] else '**no**'} |")
    return L


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.evaldeltas", description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", default=VARIANTS)
    ap.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("--work", type=Path, default=ROOT / ".docqa" / "evaldeltas")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "evaldeltas.json")
    ap.add_argument("--compare", nargs="+", type=Path, help="REF_DIR CAND_DIR...: compare existing suite folders")
    args = ap.parse_args(argv)
    import datetime

    log = (lambda m: print(m, file=sys.stderr, flush=True))
    if args.compare:
        folders = {p.name: p for p in args.compare}
        command = "python -m bench.evaldeltas --compare " + " ".join(str(p) for p in args.compare)
    else:
        folders = {v: run_variant(v, args.work.resolve(), args.datasets.resolve(), log)
                   for v in args.variants.split(",")}
        command = f"python -m bench.evaldeltas --variants {args.variants}"
    names = list(folders)
    ref = read_suite(folders[names[0]])
    res = {"reference": names[0], "date": f"{datetime.datetime.now():%Y-%m-%d %H:%M}", "command": command,
           "load_avg": os.getloadavg(), "reference_metrics": {s: {k: o.get(k) for k, _ in METRICS}
                                                              for s, (o, _) in ref.items()},
           "variants": [{"variant": n, "sets": compare(ref, read_suite(folders[n]))} for n in names[1:]]}
    for v in res["variants"]:
        v["within_gate"] = bool(v["sets"]) and all(r["within_gate"] for r in v["sets"])
    args.out.write_text(json.dumps(res, indent=1))
    print("\n".join(markdown(res)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
