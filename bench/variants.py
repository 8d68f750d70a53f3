"""The encoder variants side by side in `docqa bench`: each one's real ingest of the 1k-chunk corpus and warm
answers on the index it wrote, joined with its texts/s and cosine (bench/encoders.py) and its eval deltas
(bench/evaldeltas.py, the last run's bench/evaldeltas.json: a full eval takes too long to repeat in every bench).
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from .measure import ROOT, docqa_cmd, run_timed


def bench_variants(settings, corpus: Path, work: Path, qfile: Path, reps: int, clock, reuse: dict | None = None) -> list[dict]:
    """Per value of the ``encoder`` setting: one `docqa ingest` of ``corpus`` (wall, in-process s, peak RSS) into
    its own index, then warm extractive answers on it (p50/p95 over ``reps`` rounds, one query embedding).
    ``reuse``: the main bench's ingest entry of this corpus, for the configured encoder (not ingested twice)."""
    from core.settings import ENCODERS

    from .run import _ingest_seconds, _write_config

    rows = []
    for v in ENCODERS:
        if reuse and v == settings.encoder:
            e = {"ingest_wall_s": reuse["ingest_wall_s"], "ingest_in_process_s": reuse["ingest_in_process_s"],
                 "ingest_peak_rss_mb": reuse["ingest_peak_rss_mb"], "config": reuse["config"]}
        else:
            idx = work / f"index-variant-{v}"
            shutil.rmtree(idx, ignore_errors=True)
            cfg = _write_config(work / f"variant-{v}.toml", settings, corpus_dir=corpus, index_dir=idx, encoder=v)
            clock.log(f"variants: docqa ingest with encoder = {v}")
            run = run_timed(docqa_cmd("--config", str(cfg), "ingest", "--quiet"), timeout=3600).check()
            e = {"ingest_wall_s": run.wall_s, "ingest_in_process_s": _ingest_seconds(run.stdout) or run.wall_s,
                 "ingest_peak_rss_mb": run.peak_rss_mb, "config": str(cfg)}
        clock.log(f"variants: warm answers with encoder = {v}")
        p = run_timed([sys.executable, "-m", "bench.worker", "query", e["config"], str(qfile), "--repeats", str(reps)],
                      timeout=1800).check()
        q = json.loads(p.stdout.strip().splitlines()[-1])
        rows.append({"variant": v, **e, "answer": q.get("answer", {}), "query_embedding": q.get("query_embedding", {}),
                     "peak_rss_answers_mb": q.get("peak_rss_answers_mb")})
    return rows


def evaldeltas(path: Path = ROOT / "bench" / "evaldeltas.json") -> dict | None:
    """The last `python -m bench.evaldeltas` run, if any."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def markdown(res: dict) -> list[str]:
    """One row per encoder: texts/s, cosine, ingest wall, answer p50, the worst eval delta and its gate."""
    f = (lambda x, nd=1: "–" if x is None else f"{x:,.{nd}f}")
    enc = {r["variant"]: r for r in (res.get("encoders") or {}).get("rows", [])}
    ev = res.get("evaldeltas") or {}
    by_v = {v["variant"]: v for v in ev.get("variants", [])}
    base = next((e for e in res["ingest"] if e["name"] == "1000"), None)
    L = ["| encoder | texts/s | cosine to torch mean / min | ingest wall s (1k chunks) | answer p50 / p95 ms (1k) | "
         "one query ms | worst eval delta (all sets) | answers changed | eval gate |", "|---|---|---|---|---|---|---|---|---|"]
    for r in res.get("variants", []):
        v = r["variant"]
        e = enc.get(v, {})
        d = by_v.get(v)
        if v == ev.get("reference"):
            worst, changed, gate = "(reference)", "–", "–"
        elif d:
            deltas = [abs(x) for s in d["sets"] for x in s["delta"].values() if x is not None]
            worst = f"{max(deltas):.3f}" if deltas else "–"
            changed = f"{sum(s['answers_changed'] for s in d['sets'])} / {sum(s['n'] for s in d['sets'])}"
            gate = "pass" if d["within_gate"] else "**fail**"
        else:
            worst, changed, gate = "not run", "–", "–"
        L.append(f"| {v}{' (default)' if v == res['conditions'].get('encoder') else ''} | {f(e.get('texts_per_s'))} | "
                 f"{f(e.get('cos_mean'), 5)} / {f(e.get('cos_min'), 5)} | {f(r['ingest_wall_s'])} | "
                 f"{f(r['answer'].get('p50'))} / {f(r['answer'].get('p95'))} | {f(r['query_embedding'].get('p50'), 2)} | "
                 f"{worst} | {changed} | {gate} |")
    if base:
        L += ["", f"Same run: the plain llama-index build of the same corpus took {f(base['baseline_build_wall_s'])} s "
              f"({base['baseline_nodes']} nodes, torch)."]
    if ev:
        from .evaldeltas import markdown as deltas_table

        L += ["", *deltas_table(ev)]
    return L
