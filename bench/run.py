"""``docqa bench``: ingest, query, cold-start, serving and growth benchmarks in one run.

Writes ``results.json`` (every number), ``results.md`` (tables, targets) and
``growth.png`` into ``--out``. Work files (corpora, indexes) go under
``<index_dir>/bench-work`` and are reused when their parameters match.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

from .measure import ROOT, Clock, docqa_cmd, run_timed, vm_hwm_mb

DEFAULT_SIZES = "1000,10000,100000"  # docqa.py's default for --sizes
# Above this many chunks the plain llama-index index is not built (over an hour at 1M on 2 cores): the
# 1M targets are docqa's own (p95, RSS, re-ingest), not ratios to the plain pipeline.
BASELINE_MAX = 200_000
DEFAULT_QUESTIONS = [
    "What did the Hangzhou court rule about AI layoffs?",
    "Can companies fire workers because an AI system can do the job cheaper?",
    "How many university graduates entered the job market in 2026?",
    "What is the Ministry of Human Resources and Social Security preparing?",
    "What does New Quality Productive Forces mean?",
    "Why does Beijing see job displacement as a risk?",
    "What is the AI plus initiative?",
    "How is China's demographic change affecting the labor market?",
    "What reskilling programs does China promote?",
    "Which new occupations has AI created in China?",
    "How does Silicon Valley view job displacement compared to Beijing?",
    "What role does social stability play in China's AI policy?",
    "What did Xinhua report about AI and employment?",
    "How is manufacturing employment changing because of automation?",
    "What is the government's strategy for harnessing AI for job creation?",
    "What are companies supposed to do before replacing staff with AI?",
    "Which workers are most exposed to automation in China?",
    "What does the Straits Times report say about Chinese officials?",
    "How does China balance AI development with employment stability?",
    "What is the paradox at the heart of Beijing's technological strategy?",
    "What did the New York Times examine?",
    "Who is promoting New Quality Productive Forces?",
    "What happens to back-office service jobs?",
    "How does the shrinking workforce influence China's AI push?",
    "What policy tools does Beijing use to prevent mass layoffs?",
    "What is the population of Mars?",
    "Who won the 1998 football world cup?",
    "What is the recipe for sourdough bread?",
    "How do AI and automation affect youth unemployment in China?",
    "What legal guardrails protect workers from AI-driven dismissal?",
]


# -- helpers ------------------------------------------------------------------
def _questions(quick: bool) -> tuple[list[str], str]:
    """The bench's questions (5 for a quick run, else 30) and where they came from."""
    limit = 5 if quick else 30
    path = ROOT / "eval" / "seed_qa.jsonl"
    qs = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and isinstance(item.get("question"), str) and not item.get("history"):
                qs.append(item["question"])
    if len(qs) >= 10:
        return qs[:limit], f"{min(limit, len(qs))} questions from eval/seed_qa.jsonl (follow-ups left out)"
    return DEFAULT_QUESTIONS[:limit], f"{min(limit, len(DEFAULT_QUESTIONS))} built-in questions (bench/run.py)"


def _write_config(path: Path, settings, **changes) -> Path:
    """A TOML file with every setting, so subprocesses run with exactly these settings."""
    from dataclasses import fields

    s = settings.replace(**changes)
    lines = []
    for f in fields(s):
        v = getattr(s, f.name)
        if isinstance(v, Path):
            v = str(v.resolve())
        lines.append(f"{f.name} = {json.dumps(v)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _ingest_seconds(stdout: str) -> float | None:
    m = re.search(r"; ([\d.]+)s\s*$", stdout.strip())
    return float(m.group(1)) if m else None


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**20


def _embedded_texts(settings) -> list[str]:
    """Every text docqa embedded for this index: chunks then sentences, as stored."""
    from ingest.store import open_store, read_index_model

    name, dim = read_index_model(settings)
    store = open_store(settings, name, dim)
    return store.chunks.get(include=["documents"])["documents"] + [r[1] for r in store.stored_sentences()]


def _counts(settings) -> tuple[int, int, int]:
    from ingest.store import open_store, read_index_model

    name, dim = read_index_model(settings)
    return open_store(settings, name, dim).counts()


def _entry_named(entries: list, name: str) -> dict | None:
    return next((e for e in entries if e["name"] == name), None)


# -- sections -----------------------------------------------------------------
def _ingest_real(name, corpus, work, settings, embedder, reps, clock) -> dict:
    """Real `docqa ingest` in a subprocess, its unchanged re-ingest, raw encode of the same texts, baseline build."""
    idx = work / f"index-{name}"
    shutil.rmtree(idx, ignore_errors=True)
    cfg = _write_config(work / f"{name}.toml", settings, corpus_dir=corpus, index_dir=idx)
    clock.log(f"ingest {name}: docqa ingest (subprocess)")
    first = run_timed(docqa_cmd("--config", str(cfg), "ingest", "--quiet"), timeout=3600).check()
    s = settings.replace(corpus_dir=corpus, index_dir=idx)
    docs, chunks, sents = _counts(s)
    re_runs = [run_timed(docqa_cmd("--config", str(cfg), "ingest", "--quiet"), timeout=600).check()
               for _ in range(reps)]
    texts = _embedded_texts(s)
    clock.log(f"ingest {name}: raw encode of the same {len(texts)} texts")
    t0 = time.perf_counter()
    embedder.model.encode(texts, batch_size=settings.embed_batch_size, normalize_embeddings=True,
                          convert_to_numpy=True, show_progress_bar=False)
    raw_s = time.perf_counter() - t0
    clock.log(f"ingest {name}: plain llama-index build (subprocess)")
    bdir = work / f"baseline-{name}"
    shutil.rmtree(bdir, ignore_errors=True)
    base = run_timed([sys.executable, "-m", "bench.worker", "baseline-build", str(corpus), str(bdir), str(cfg)],
                     timeout=3600).check()
    bstats = json.loads(base.stdout.strip().splitlines()[-1])
    in_proc = _ingest_seconds(first.stdout) or first.wall_s
    return {
        "name": name, "mode": "real", "docs": docs, "chunks": chunks, "sentences": sents, "config": str(cfg),
        "index_dir": str(idx), "baseline_dir": str(bdir),
        "ingest_wall_s": first.wall_s, "ingest_in_process_s": in_proc, "ingest_peak_rss_mb": first.peak_rss_mb,
        "chunks_per_s": chunks / in_proc, "texts_per_s": (chunks + sents) / in_proc,
        "raw_encode_s": raw_s, "raw_texts_per_s": len(texts) / raw_s, "texts_embedded": len(texts),
        "ratio_ingest_to_raw": in_proc / raw_s,
        "reingest_wall_s": statistics.median(p.wall_s for p in re_runs),
        "reingest_in_process_s": statistics.median(_ingest_seconds(p.stdout) or p.wall_s for p in re_runs),
        "reingest_summary": re_runs[-1].stdout.strip().splitlines()[-1] if re_runs[-1].stdout.strip() else "",
        "baseline_build_wall_s": base.wall_s, "baseline_build_in_process_s": bstats["in_process_s"],
        "baseline_nodes": bstats["nodes"], "baseline_peak_rss_mb": base.peak_rss_mb,
        "index_mb": _dir_mb(idx),
    }


def _ingest_shortcut(name, corpus, work, settings, embedder, cache, reps, clock) -> dict:
    """The large sizes: shortcut build (bench/fastindex.py), then a real unchanged re-ingest."""
    from .fastindex import shortcut_index

    idx = work / f"index-{name}"
    cfg = _write_config(work / f"{name}.toml", settings, corpus_dir=corpus, index_dir=idx)
    s = settings.replace(corpus_dir=corpus, index_dir=idx)
    build = shortcut_index(s, corpus, lambda: embedder, cache, log=lambda m: clock.log(f"ingest {name}: {m}"))
    docs, chunks, sents = _counts(s)
    clock.log(f"ingest {name}: unchanged re-ingest (subprocess, real)")
    re_runs = [run_timed(docqa_cmd("--config", str(cfg), "ingest", "--quiet"), timeout=1800).check()
               for _ in range(reps if chunks < 50_000 else 1)]  # one slow run is steady enough
    bdir = work / f"baseline-{name}"
    corpus_params = (corpus / ".params").read_text() if (corpus / ".params").exists() else ""
    if chunks > BASELINE_MAX:
        bdir = None
    elif not (bdir / ".bench-built").exists() or (bdir / ".bench-built").read_text() != corpus_params:
        clock.log(f"ingest {name}: plain llama-index build (subprocess, same vector shortcut)")
        shutil.rmtree(bdir, ignore_errors=True)
        run_timed([sys.executable, "-m", "bench.worker", "baseline-build", str(corpus), str(bdir), str(cfg),
                   "--shortcut"], timeout=3600).check()
        (bdir / ".bench-built").write_text(corpus_params)
    return {
        "name": name, "mode": "shortcut", "docs": docs, "chunks": chunks, "sentences": sents, "config": str(cfg),
        "index_dir": str(idx), "baseline_dir": str(bdir) if bdir else None, "shortcut_build_s": build["total_s"],
        "shortcut_distinct_texts_encoded": build["distinct_texts_encoded"],
        "reingest_wall_s": statistics.median(p.wall_s for p in re_runs),
        "reingest_in_process_s": statistics.median(_ingest_seconds(p.stdout) or p.wall_s for p in re_runs),
        "reingest_peak_rss_mb": max(p.peak_rss_mb for p in re_runs),
        "reingest_summary": re_runs[-1].stdout.strip().splitlines()[-1] if re_runs[-1].stdout.strip() else "",
        "index_mb": _dir_mb(idx),
    }


def _query(entry, qfile, reps, clock, profile: Path | None = None) -> dict:
    clock.log(f"query {entry['name']}: warm answers + plain retrieve-only (subprocess)")
    cmd = [sys.executable, "-m", "bench.worker", "query", entry["config"], str(qfile), "--repeats", str(reps)]
    if profile:
        cmd += ["--profile", str(profile)]
    elif entry.get("baseline_dir"):
        cmd += ["--baseline", entry["baseline_dir"]]
    p = run_timed(cmd, timeout=1800).check()
    got = json.loads(p.stdout.strip().splitlines()[-1])
    got["worker_peak_rss_mb"] = p.peak_rss_mb
    return got


COLD_ASKS = 9  # cold one-shot asks timed (at least)


def _cold(seed, question, reps, clock) -> dict:
    """`docqa --help`, and `docqa ask` twice over: a cold process (the warm helper switched off), and the
    ask that finds the helper the previous one left (askd.py; the helper is stopped afterwards)."""
    import askd
    from core.settings import load_settings

    clock.log("cold start: docqa --help, one-shot docqa ask (cold, and with the warm helper)")
    helps = [run_timed(docqa_cmd("--help"), timeout=60).check() for _ in range(max(3, reps + 2))]
    off = {"DOCQA_ASK_DAEMON_IDLE_S": "0"}
    # More samples than the other sections: a cold ask's wall moves by +-0.15 s with this machine's state.
    asks = [run_timed(docqa_cmd("--config", seed["config"], "ask", question), env=off, timeout=300)
            for _ in range(max(reps, COLD_ASKS))]
    failed = [p for p in asks if p.rc != 0]
    if failed:  # e.g. qa/answer.py not there yet: report it, measure the rest
        return {"help_s": statistics.median(p.wall_s for p in helps), "help_samples": [p.wall_s for p in helps],
                "ask_error": (failed[0].stderr.strip().splitlines() or ["?"])[-1], "question": question}
    out = {"help_s": statistics.median(p.wall_s for p in helps), "help_samples": [p.wall_s for p in helps],
           "ask_s": statistics.median(p.wall_s for p in asks), "ask_samples": [p.wall_s for p in asks],
           "ask_peak_rss_mb": max(p.peak_rss_mb for p in asks), "question": question}
    on = {"DOCQA_ASK_DAEMON_IDLE_S": "120"}
    saved, cwd = dict(os.environ), os.getcwd()
    os.environ.update(on)
    os.chdir(ROOT)  # run_timed runs docqa in ROOT, and the helper's socket depends on the folder
    try:
        path = askd.socket_path(load_settings(seed["config"]))
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)
    if path is None:
        return out
    askd.stop(path)
    try:
        first = run_timed(docqa_cmd("--config", seed["config"], "ask", question), env=on, timeout=300).check()
        deadline = time.monotonic() + 120
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        warm = [run_timed(docqa_cmd("--config", seed["config"], "ask", question), env=on, timeout=300).check()
                for _ in range(max(3, reps))]
        try:
            helper_mb = vm_hwm_mb(int(path.with_suffix(".lock").read_text()))
        except (OSError, ValueError):
            helper_mb = None
    finally:
        askd.stop(path)
    out.update({"ask_first_s": first.wall_s, "ask_warm_s": statistics.median(p.wall_s for p in warm),
                "ask_warm_samples": [p.wall_s for p in warm], "ask_warm_peak_rss_mb": max(p.peak_rss_mb for p in warm),
                "ask_helper_peak_rss_mb": helper_mb,
                "ask_warm_same_output": all(p.stdout.splitlines()[:-1] == first.stdout.splitlines()[:-1]
                                            for p in warm)})
    return out


def main(args, settings) -> int:
    """Run the benchmarks named by ``args`` (sizes, out, quick) and write the results."""
    from core.offline import enforce_offline

    enforce_offline()
    from . import report, serving, tuning
    from .corpus import build_corpus, describe
    from .fastindex import VectorCache
    from .measure import peak_rss_self_mb

    clock = Clock()
    quick = bool(getattr(args, "quick", False))
    out = Path(getattr(args, "out", None) or ROOT / "bench")
    out.mkdir(parents=True, exist_ok=True)
    sizes = [int(x) for x in str(getattr(args, "sizes", "") or "").replace(" ", "").split(",") if x]
    if quick and (not sizes or str(getattr(args, "sizes", "")) == DEFAULT_SIZES):
        sizes = [300]  # the smoke run; explicit --sizes are kept
    # Sizes up to this many chunks are ingested for real; above it by the shortcut (bench/fastindex.py).
    real_max = getattr(args, "real_ingest_max", None) or os.environ.get("DOCQA_BENCH_REAL_INGEST_MAX")
    real_max = (0 if quick else 1000) if real_max in (None, "") else int(real_max)
    reps = 1 if quick else 3
    work = Path(getattr(args, "work", None) or os.environ.get("DOCQA_BENCH_WORK")
                or Path(settings.index_dir) / "bench-work").resolve()
    work.mkdir(parents=True, exist_ok=True)
    questions, qsource = _questions(quick)
    qfile = work / "questions.json"
    qfile.write_text(json.dumps(questions))
    clock.log(f"sizes {sizes} (real ingest up to {real_max} chunks, shortcut above), quick={quick}, work {work}")

    from ingest.embed import get_embedder

    t0 = time.perf_counter()
    embedder = get_embedder(settings)
    embedder.model  # noqa: B018 - load sentence-transformers now, so the load is timed here
    model_load_s = time.perf_counter() - t0
    cache = VectorCache(embedder)
    res: dict = {"conditions": report.conditions(quick, sizes, real_max, reps, qsource, settings.encoder),
                 "model_load_s": model_load_s, "corpus_how": describe(), "ingest": [], "query": {}}

    seed_dir = Path(settings.corpus_dir).resolve()
    entries = [_ingest_real("seed", seed_dir, work, settings, embedder, reps, clock)]
    for n in sizes:
        corpus = work / f"corpus-{n}"
        info = build_corpus(corpus, n, seed_dir, settings)
        clock.log(f"corpus {n}: {info['docs']} docs, ~{info['est_chunks']} chunks (reused={info['reused']})")
        if n <= real_max:
            e = _ingest_real(f"{n}", corpus, work, settings, embedder, reps, clock)
        else:
            e = _ingest_shortcut(f"{n}", corpus, work, settings, embedder, cache, reps, clock)
        e["target_chunks"] = n
        entries.append(e)
    res["ingest"] = entries
    res["corpus_pool"] = {"seed_dir": str(seed_dir)}

    for e in entries:
        res["query"][e["name"]] = _query(e, qfile, reps, clock)
    res["cold"] = _cold(entries[0], questions[0], reps, clock)
    res["serving"] = serving.bench_serving(entries[0]["config"], questions, quick, clock)
    res["tuning"] = tuning.bench_tuning(embedder, settings, _embedded_texts(
        settings.replace(corpus_dir=seed_dir, index_dir=Path(entries[0]["index_dir"]))), quick, clock)
    if not quick and _entry_named(entries, "1000"):
        from . import variants

        k1 = _entry_named(entries, "1000")
        res["variants"] = variants.bench_variants(settings, work / "corpus-1000", work, qfile, reps, clock,
                                                  reuse=k1 if k1["mode"] == "real" else None)
        res["evaldeltas"] = variants.evaldeltas()
    from . import encoders as encoder_bench  # the variants of the `encoder` setting (bench/encoders.md)

    res["encoders"] = encoder_bench.bench_encoders(settings, n=64 if quick else 2000, repeats=1 if quick else 3,
                                                   roots=[seed_dir] if quick else None, clock=clock, quick=quick)

    targets = report.targets(res)
    res["targets"] = targets
    if not quick and any(t["met"] is False for t in targets if t["key"].startswith("answer")):
        big = entries[-1]
        prof = out / "profile_answer.txt"
        _query(big, qfile, 1, clock, profile=prof)
        res["profile_answer"] = str(prof)
    if not quick and any(t["met"] is False for t in targets if t["key"].startswith("ingest")):
        clock.log("profile: docqa ingest --rebuild of the seed corpus under pyinstrument")
        prof = out / "profile_ingest.txt"
        run_timed([sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(prof), "-m", "docqa",
                   "--config", entries[0]["config"], "ingest", "--rebuild", "--quiet"], timeout=1200)
        res["profile_ingest"] = str(prof)
    res["bench_peak_rss_mb"] = peak_rss_self_mb()
    res["total_s"] = clock.elapsed()
    (out / "results.json").write_text(json.dumps(res, indent=1, default=str))
    report.plot_growth(res, out / "growth.png")
    (out / "results.md").write_text(report.markdown(res, out))
    clock.log(f"done in {res['total_s']:.0f}s: {out / 'results.md'}, {out / 'growth.png'}, {out / 'results.json'}")
    return 0
