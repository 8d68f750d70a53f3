"""Re-measure part of a benchmark run and rewrite its tables: ``python -m bench.update``.

    python -m bench.update --out bench/ --query seed,1000,100000   # the warm-query section again
    python -m bench.update --out bench/ --add 1000000              # a size the run did not have
    python -m bench.update --out bench/ --cold                     # `docqa --help` and one-shot `docqa ask`
    python -m bench.update --out bench/ --ingest seed,1000         # real ingest, raw encode, plain build
    python -m bench.update --out bench/                            # nothing measured: tables redrawn

A full ``docqa bench`` takes ~17 minutes up to 100k chunks, and a 1M-chunk shortcut index another
1.5 hours to build. This re-runs only what is named, against the corpora and indexes the run left in
its work folder (a size added with ``--add`` is built by the shortcut unless its index is already
there, e.g. from ``python -m bench.reingest``), then rewrites results.json, results.md and
growth.png. Each re-measurement is recorded under ``updates`` (date, commit, load average, what) and
listed under the run's header in results.md; every ratio still comes from one process, since the
query worker times docqa and the plain pipeline side by side.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

from .measure import ROOT, Clock


def _names(text: str | None) -> list[str]:
    return [x for x in (text or "").replace(" ", "").split(",") if x]


def _commit() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def update(res: dict, settings, query: list[str], add: list[int], clock: Clock, cold: bool = False,
           ingest: list[str] | None = None) -> dict:
    """``res`` (a results.json) with the named sizes' query section re-measured, ``add`` sizes added,
    ``ingest`` (sizes built by a real ingest) ingested again beside the plain build and, with ``cold``, the
    cold-start section re-measured."""
    from . import report
    from .corpus import build_corpus
    from .run import _cold, _entry_named, _ingest_real, _ingest_shortcut, _query, _questions

    entries = res["ingest"]
    unknown = [n for n in query if _entry_named(entries, n) is None]
    if unknown:
        raise SystemExit(f"bench.update: no size {', '.join(unknown)} in this run; add it with --add N")
    work = Path(entries[0]["config"]).parent
    qfile, reps = work / "questions.json", int(res["conditions"]["repeats"])
    done, load = [], os.getloadavg()
    if not qfile.exists():  # a fresh checkout: the run's questions, as the full run chose them
        work.mkdir(parents=True, exist_ok=True)
        qfile.write_text(json.dumps(_questions(res["conditions"]["quick"])[0]))
    for n in add:
        from ingest.embed import get_embedder

        from .fastindex import VectorCache

        corpus = work / f"corpus-{n}"
        info = build_corpus(corpus, n, Path(res["corpus_pool"]["seed_dir"]), settings)
        clock.log(f"corpus {n}: {info['docs']} docs, ~{info['est_chunks']} chunks (reused={info['reused']})")
        embedder = get_embedder(settings)
        e = _ingest_shortcut(str(n), corpus, work, settings, embedder, VectorCache(embedder), reps, clock)
        e["target_chunks"] = n
        entries[:] = [x for x in entries if x["name"] != e["name"]] + [e]
        entries.sort(key=lambda x: (x["name"] != "seed", x["chunks"]))
        res["conditions"]["sizes"] = sorted(set(res["conditions"]["sizes"]) | {n})
        query.append(e["name"])
        done.append(f"added {n} chunks (shortcut index, re-ingest, query)")
    for name in ingest or []:
        old = _entry_named(entries, name)
        if old is None or old.get("mode") != "real":
            raise SystemExit(f"bench.update: {name} is not a size this run ingested for real")
        from ingest.embed import get_embedder

        corpus = Path(res["corpus_pool"]["seed_dir"]) if name == "seed" else work / f"corpus-{name}"
        e = _ingest_real(name, corpus, work, settings, get_embedder(settings), reps, clock)
        e.update({k: v for k, v in old.items() if k not in e})
        entries[entries.index(old)] = e
        row = next((r for r in res.get("variants", []) if r["variant"] == res["conditions"].get("encoder")), None)
        if name == "1000" and row:  # the variants table's row for the configured encoder is this ingest
            row.update({k: e[k] for k in ("ingest_wall_s", "ingest_in_process_s", "ingest_peak_rss_mb")})
        done.append(f"ingest re-measured at {name} (docqa, raw encode, plain llama-index build)")
    for name in dict.fromkeys(query):
        res["query"][name] = _query(_entry_named(entries, name), qfile, reps, clock)
    if query and not add:
        done.append(f"query section re-measured at {', '.join(dict.fromkeys(query))}")
    if cold:
        question = json.loads(qfile.read_text())[0]
        res["cold"] = _cold(entries[0], question, reps, clock)
        done.append("cold start re-measured")
    res.setdefault("updates", []).append({
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "load_avg_start": load,
        "cpu": report.cpu_description(), "commit": _commit(), "what": "; ".join(done)})
    res["targets"] = report.targets(res)
    return res


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, update ``--out``/results.json in place and rewrite its tables and plot."""
    from core.offline import enforce_offline
    from core.settings import load_settings

    from . import report

    enforce_offline()
    p = argparse.ArgumentParser(prog="python -m bench.update", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "bench", help="folder of the run's results.json")
    p.add_argument("--query", help="sizes whose warm-query section to re-measure, e.g. seed,1000,100000")
    p.add_argument("--add", help="sizes (chunks) to add to the run, e.g. 1000000")
    p.add_argument("--ingest", help="real-ingest sizes to ingest again beside the plain build, e.g. seed,1000")
    p.add_argument("--cold", action="store_true", help="re-measure `docqa --help` and one-shot `docqa ask`")
    p.add_argument("--config")
    args = p.parse_args(argv)
    path = args.out / "results.json"
    res = json.loads(path.read_text())
    clock = Clock()
    if args.query or args.add or args.ingest or args.cold:
        update(res, load_settings(args.config), _names(args.query), [int(x) for x in _names(args.add)], clock,
               cold=args.cold, ingest=_names(args.ingest))
    else:  # after a change to bench/report.py: the same numbers, tables and verdicts drawn again
        res["targets"] = report.targets(res)
    path.write_text(json.dumps(res, indent=1, default=str))
    report.plot_growth(res, args.out / "growth.png")
    (args.out / "results.md").write_text(report.markdown(res, args.out))
    clock.log(f"updated {path}, results.md and growth.png")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
