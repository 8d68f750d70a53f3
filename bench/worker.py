"""Subprocess entry points of the benchmark, so each measurement gets a fresh process and its own peak RSS.

    python -m bench.worker query CONFIG QUESTIONS.json [--repeats N] [--baseline DIR] [--profile OUT]
    python -m bench.worker baseline-build CORPUS DIR CONFIG [--shortcut]

Each prints one JSON object as its last stdout line.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import peak_rss_self_mb, rss_mb, summary_ms  # noqa: E402


def _answers(answer, settings, questions, args, out) -> None:
    """Warm extractive answers: p50/p95 over every (question, repeat), the timings_ms parts, peak RSS."""
    t0 = time.perf_counter()
    answer(questions[0], settings=settings, mode="extractive")  # loads model, index, BM25
    out["first_answer_s"] = time.perf_counter() - t0
    for q in questions[:args.warmup]:
        answer(q, settings=settings, mode="extractive")
    from qa.retrieve import _QEMB

    samples, parts, refused = [], {}, 0
    for _ in range(args.repeats):
        for q in questions:
            _QEMB.clear()  # every sample embeds its question: repeats must not time the query-vector cache
            t = time.perf_counter()
            ans = answer(q, settings=settings, mode="extractive")
            samples.append(time.perf_counter() - t)
            refused += bool(ans.refused)
            for key, ms in (ans.timings_ms or {}).items():
                if isinstance(ms, (int, float)):
                    parts.setdefault(key, []).append(float(ms))
    out["answer"] = summary_ms(samples)
    repeat = []  # the same question asked again (the UI's retry, eval's second pass): vector cached
    for q in questions:
        answer(q, settings=settings, mode="extractive")
        t = time.perf_counter()
        answer(q, settings=settings, mode="extractive")
        repeat.append(time.perf_counter() - t)
    out["answer_repeat"] = summary_ms(repeat)
    out["answer_parts_ms_p50"] = {k: summary_ms([v / 1000 for v in vs])["p50"] for k, vs in parts.items()}
    out["refused_share"] = refused / max(1, len(samples))
    out["rss_after_answers_mb"] = rss_mb()
    out["peak_rss_answers_mb"] = peak_rss_self_mb()


def _query(args) -> dict:
    from core.offline import enforce_offline

    enforce_offline()
    from core.settings import load_settings

    settings = load_settings(args.config)
    questions = json.loads(Path(args.questions).read_text())
    out: dict = {"rss_start_mb": rss_mb()}
    try:
        from qa.answer import answer
    except ImportError as e:  # qa/answer.py not written yet: measure the rest
        answer = None
        out["answer_skipped"] = f"qa.answer not importable ({e})"
    if answer is not None:
        _answers(answer, settings, questions, args, out)

    from ingest.embed import get_embedder

    emb = get_embedder(settings)
    emb.encode_query(questions[0])
    qs = []
    for _ in range(args.repeats):
        for q in questions:
            t = time.perf_counter()
            emb.encode_query(q)
            qs.append(time.perf_counter() - t)
    out["query_embedding"] = summary_ms(qs)  # docqa's query path (Embedder.encode_query)
    st = emb.model  # the hardware reference: SentenceTransformer.encode of one query
    st.encode([questions[0]], show_progress_bar=False)
    qs = []
    for _ in range(args.repeats):
        for q in questions:
            t = time.perf_counter()
            st.encode([q], normalize_embeddings=True, show_progress_bar=False)
            qs.append(time.perf_counter() - t)
    out["query_embedding_st"] = summary_ms(qs)

    if args.profile and answer is not None:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.001)
        prof.start()
        for q in questions:
            answer(q, settings=settings, mode="extractive")
        prof.stop()
        Path(args.profile).write_text(prof.output_text(unicode=False, color=False, show_all=False))
        out["profile"] = str(args.profile)

    if args.baseline:
        from bench.baseline import open_retriever

        retriever = open_retriever(Path(args.baseline), settings.model_path, settings.top_k,
                                   settings.embed_batch_size)
        for q in questions[:max(1, args.warmup)]:
            retriever.retrieve(q)
        rs = []
        for _ in range(args.repeats):
            for q in questions:
                t = time.perf_counter()
                nodes = retriever.retrieve(q)
                rs.append(time.perf_counter() - t)
        out["baseline_retrieve"] = summary_ms(rs)
        out["baseline_hits"] = len(nodes)
        out["peak_rss_total_mb"] = peak_rss_self_mb()
    return out


def _baseline_build(args) -> dict:
    from core.offline import enforce_offline

    enforce_offline()
    from core.settings import load_settings

    from bench.baseline import build_baseline

    settings = load_settings(args.config)
    cache = None
    if args.shortcut:
        from ingest.embed import get_embedder

        from bench.fastindex import VectorCache

        cache = VectorCache(get_embedder(settings))
    t0 = time.perf_counter()
    stats = build_baseline(Path(args.corpus), Path(args.dir), settings.model_path, settings.chunk_size,
                           settings.chunk_overlap, settings.embed_batch_size, vector_cache=cache)
    stats["in_process_s"] = time.perf_counter() - t0
    stats["peak_rss_mb"] = peak_rss_self_mb()
    return stats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.worker")
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("query")
    q.add_argument("config")
    q.add_argument("questions")
    q.add_argument("--repeats", type=int, default=3)
    q.add_argument("--warmup", type=int, default=3)
    q.add_argument("--baseline")
    q.add_argument("--profile")
    b = sub.add_parser("baseline-build")
    b.add_argument("corpus")
    b.add_argument("dir")
    b.add_argument("config")
    b.add_argument("--shortcut", action="store_true")
    args = p.parse_args(argv)
    out = _query(args) if args.cmd == "query" else _baseline_build(args)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
