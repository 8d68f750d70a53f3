"""The unchanged re-ingest at scale, on its own: ``python -m bench.reingest --size 100000``.

Builds (or reuses) the synthetic corpus and the shortcut index of ``--size``
chunks exactly as ``docqa bench`` does (bench/corpus.py, bench/fastindex.py, the
same work folder and stamps, so either reuses the other's), then times an
unchanged ``docqa ingest`` on it in a subprocess ``--repeats`` times: wall
seconds, the in-process seconds it prints, peak RSS. None of the rest of the
bench (queries, the llama-index baseline, serving) runs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from .measure import ROOT, Clock, docqa_cmd, run_timed


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the index of ``--size`` chunks; print one JSON line of re-ingest timings."""
    from core.offline import enforce_offline
    from core.settings import load_settings

    enforce_offline()
    p = argparse.ArgumentParser(prog="python -m bench.reingest")
    p.add_argument("--size", type=int, default=100_000, help="target chunks")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--config")
    args = p.parse_args(argv)
    from ingest.embed import get_embedder

    from .corpus import build_corpus
    from .fastindex import BuildStopped, shortcut_index
    from .run import _counts, _ingest_seconds, _write_config

    settings = load_settings(args.config)
    clock = Clock()
    work = Path(os.environ.get("DOCQA_BENCH_WORK") or Path(settings.index_dir) / "bench-work").resolve()
    corpus, idx = work / f"corpus-{args.size}", work / f"index-{args.size}"
    info = build_corpus(corpus, args.size, Path(settings.corpus_dir).resolve(), settings)
    clock.log(f"corpus {args.size}: {info['docs']} docs, ~{info['est_chunks']} chunks (reused={info['reused']})")
    cfg = _write_config(work / f"{args.size}.toml", settings, corpus_dir=corpus, index_dir=idx)
    s = settings.replace(corpus_dir=corpus, index_dir=idx)
    try:
        shortcut_index(s, corpus, lambda: get_embedder(settings), log=clock.log)
    except BuildStopped as e:
        print(f"bench.reingest: {e}", file=sys.stderr)
        return 3
    docs, chunks, sents = _counts(s)
    clock.log(f"index: {docs} docs, {chunks} chunks, {sents} sentences; unchanged re-ingest x{args.repeats}")
    runs = [run_timed(docqa_cmd("--config", str(cfg), "ingest", "--quiet"), timeout=1800).check()
            for _ in range(args.repeats)]
    out = {"size": args.size, "docs": docs, "chunks": chunks, "sentences": sents,
           "reingest_wall_s": [r.wall_s for r in runs],
           "reingest_in_process_s": [_ingest_seconds(r.stdout) for r in runs],
           "reingest_peak_rss_mb": [r.peak_rss_mb for r in runs],
           "median_wall_s": statistics.median(r.wall_s for r in runs),
           "summary": runs[-1].stdout.strip().splitlines()[-1], "stderr_tail": runs[-1].stderr[-500:]}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
