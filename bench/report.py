"""Turn a bench results dict into the targets table, results.md and growth.png."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

from .measure import ROOT


def cpu_description() -> str:
    """The CPU's name with its family/model and whether it has AVX-512: "AMD EPYC" alone names several
    generations, and the ingest ratio to the plain build moved 1.08x -> 0.75x between two of them."""
    cpu = platform.processor()
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines()
                    if ":" in line)
    except OSError:
        return cpu
    info = {k.strip(): v.strip() for k, v in info.items()}
    avx = "AVX-512" if "avx512f" in info.get("flags", "").split() else "no AVX-512"
    return f"{info.get('model name', cpu)}, family {info.get('cpu family', '?')} model {info.get('model', '?')}, {avx}"


def conditions(quick: bool, sizes, real_max: int, reps: int, qsource: str, encoder: str = "") -> dict:
    """Machine and run conditions, recorded before anything is measured."""
    import psutil
    import torch

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "cpu": cpu_description(),
            "cores": os.cpu_count(),
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1), "load_avg_start": os.getloadavg(),
            "python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "commit": commit, "quick": quick, "sizes": sizes, "real_ingest_max": real_max, "repeats": reps,
            "questions": qsource, "encoder": encoder}


def _f(x, nd=1, unit=""):
    if x is None or (isinstance(x, float) and x != x):
        return "–"
    return f"{x:,.{nd}f}{unit}"


def _entry(res, name):
    return next((e for e in res["ingest"] if e["name"] == name), None)


def targets(res: dict) -> list[dict]:
    """One row per target of issue 6: measured, target, met (True/False/None when not measured)."""
    rows = []
    real = [e for e in res["ingest"] if e["mode"] == "real"]
    if real:
        e = max(real, key=lambda e: e["chunks"])
        rows.append({"key": "ingest_vs_raw", "what": f"ingest time / raw encode of the same texts ({e['name']}, "
                     f"{e['chunks']} chunks)", "measured": f"{e['ratio_ingest_to_raw']:.2f}x", "target": "<= 1.2x",
                     "met": e["ratio_ingest_to_raw"] <= 1.2})
        load = res.get("model_load_s", 0.0)
        if e["ingest_in_process_s"] > load:
            r = (e["ingest_in_process_s"] - load) / e["raw_encode_s"]
            rows.append({"key": "ingest_vs_raw_noload", "what": f"same, minus the model load time measured in the "
                         f"bench process ({load:.1f}s; approximate)", "measured": f"{r:.2f}x", "target": "<= 1.2x",
                         "met": r <= 1.2})
    ten = _entry(res, "10000") or max(res["ingest"], key=lambda e: e["chunks"])
    if ten["mode"] == "real":
        pct, note = 100 * ten["reingest_wall_s"] / ten["ingest_wall_s"], ""
    else:
        ref = max(real, key=lambda e: e["chunks"])
        load = min(res.get("model_load_s", 0.0), ref["ingest_in_process_s"])
        # fixed costs (startup, imports, model load) once, plus the reference run's seconds per chunk
        per_chunk = (ref["ingest_in_process_s"] - load) / ref["chunks"]
        est_first = ref["ingest_wall_s"] - ref["ingest_in_process_s"] + load + ten["chunks"] * per_chunk
        pct, note = 100 * ten["reingest_wall_s"] / est_first, (
            f" (first ingest estimated at {est_first:,.0f}s from the {ref['name']} run's s/chunk; index built by the shortcut)")
    rows.append({"key": "ingest_reingest", "what": f"unchanged re-ingest / first ingest ({ten['name']}, {ten['chunks']} chunks){note}",
                 "measured": f"{pct:.1f}%", "target": "< 5%", "met": pct < 5})
    for e in res["ingest"]:
        q = res["query"].get(e["name"], {})
        if "baseline_retrieve" in q and "answer" in q:
            a, b = q["answer"]["p50"], q["baseline_retrieve"]["p50"]
            rows.append({"key": f"answer_p50_{e['name']}", "what": f"warm answer p50 vs plain retrieve-only p50 ({e['name']}, {e['chunks']} chunks)",
                         "measured": f"{a:.1f} / {b:.1f} ms ({a / b:.2f}x)", "target": "<= 1.0x", "met": a <= b})
    # The target is at 100k: the smallest run of at least 100k chunks (a 1M run has its own row), else the largest.
    large = [e for e in res["ingest"] if e["chunks"] >= 100_000]
    big = min(large, key=lambda e: e["chunks"]) if large else max(res["ingest"], key=lambda e: e["chunks"])
    q = res["query"].get(big["name"], {})
    if "answer" in q:
        at = f" ({big['chunks']} chunks)" if big["chunks"] >= 100_000 else \
            f" (largest run: {big['chunks']} chunks, target is at 100k)"
        rows.append({"key": "answer_p95_100k", "what": f"warm answer p95 at 100k chunks{at}",
                     "measured": f"{q['answer']['p95']:.1f} ms", "target": "< 100 ms",
                     "met": q["answer"]["p95"] < 100 if big["chunks"] >= 100_000 else None})
    cold = res.get("cold", {})
    if cold:
        rows.append({"key": "help", "what": "`docqa --help` wall", "measured": f"{cold['help_s']:.2f} s",
                     "target": "< 0.5 s", "met": cold["help_s"] < 0.5})
        rows.append({"key": "ask_cold", "what": "one-shot `docqa ask` on the seed corpus, cold process (no helper)",
                     "measured": f"{cold['ask_s']:.2f} s" if "ask_s" in cold else f"failed: {cold.get('ask_error')}",
                     "target": "<= 0.8 s", "met": cold["ask_s"] <= 0.8 if "ask_s" in cold else None})
        if "ask_warm_s" in cold:
            rows.append({"key": "ask_warm", "what": "one-shot `docqa ask` on the seed corpus, answered by the warm "
                         "helper an earlier ask left (askd.py; default on)",
                         "measured": f"{cold['ask_warm_s']:.2f} s" + ("" if cold.get("ask_warm_same_output")
                                                                         else " (output differed!)"),
                         "target": "<= 0.8 s", "met": cold["ask_warm_s"] <= 0.8 and cold.get("ask_warm_same_output")})
    rows += _targets_13(res)
    srv = res.get("serving", {})
    if srv.get("rss_peak_mb") and srv.get("levels") and any(lv["ok"] for lv in srv["levels"]):
        rows.append({"key": "serve_rss", "what": "serve RSS on the seed corpus (peak while serving)",
                     "measured": f"{srv['rss_peak_mb']:.0f} MiB", "target": "< 1536 MiB", "met": srv["rss_peak_mb"] < 1536})
    else:
        rows.append({"key": "serve_rss", "what": "serve RSS on the seed corpus", "measured": "not measured: "
                     + str(srv.get("skipped") or srv.get("error") or "?"), "target": "< 1536 MiB", "met": None})
    return rows


def _targets_13(res: dict) -> list[dict]:
    """Issue 13's targets: ingest against the plain build, and an index of 1M chunks (measured, or extrapolated)."""
    rows = []
    k1 = _entry(res, "1000")
    if k1 and k1["mode"] == "real":
        a, b = k1["ingest_wall_s"], k1["baseline_build_wall_s"]
        rows.append({"key": "ingest_vs_plain", "what": f"ingest wall of the 1k-chunk corpus vs the plain llama-index "
                     f"build ({k1['chunks']} chunks + {k1['sentences']} sentences embedded, {k1['baseline_nodes']} nodes)",
                     "measured": f"{a:.1f} / {b:.1f} s ({a / b:.2f}x)", "target": "<= 1.0x", "met": a <= b})
    if res.get("gpu"):
        from .gpu import best

        g = best(res["gpu"])
        rows.append({"key": "gpu_encode", "what": f"GPU (optional): ingest encoding on {res['gpu']['device']}, docqa "
                     f"(chunks + sentences, fp32, batch {g['batch']}) against plain `SentenceTransformer.encode` of "
                     "the plain build's nodes on the same card", "target": "reported",
                     "measured": f"{g['docqa_chunks_per_s']:,.0f} chunks/s vs {g['plain_nodes_per_s']:,.0f} nodes/s "
                     f"({g['docqa_texts_per_s']:,.0f} vs {g['plain_same_texts_per_s']:,.0f} texts/s on docqa's texts)",
                     "met": True})
    big = [e for e in res["ingest"] if e["chunks"] >= 900_000]
    if big:
        e = big[0]
        q = res["query"].get(e["name"], {})
        p95, rss = q.get("answer", {}).get("p95"), q.get("peak_rss_answers_mb")
        rows += [{"key": "scale_1m_p95", "what": f"answer p95 at {e['chunks']:,} chunks (shortcut-built index)",
                  "measured": f"{p95:.1f} ms" if p95 else "–", "target": "< 100 ms", "met": p95 < 100 if p95 else None},
                 {"key": "scale_1m_rss", "what": f"query process peak RSS at {e['chunks']:,} chunks",
                  "measured": f"{rss / 1024:.2f} GB" if rss else "–", "target": "< 8 GB",
                  "met": rss < 8 * 1024 if rss else None},
                 {"key": "scale_1m_reingest", "what": f"unchanged re-ingest at {e['chunks']:,} chunks",
                  "measured": f"{e['reingest_wall_s']:.1f} s", "target": "< 30 s", "met": e["reingest_wall_s"] < 30}]
    else:
        ext = extrapolate_1m(res)
        if ext:
            rows += [{"key": f"scale_1m_{k}", "what": f"{what} at 1M chunks: NOT MEASURED, extrapolated linearly from "
                      f"{ext['from']}", "measured": "–" if x is None else f"~{x / div:.{nd}f} {unit}", "target": goal,
                      "met": None}
                     for k, what, x, div, nd, unit, goal in (
                         ("p95", "answer p95", ext["p95_ms"], 1, 0, "ms", "< 100 ms"),
                         ("rss", "query process peak RSS", ext["rss_mb"], 1024, 1, "GB", "< 8 GB"),
                         ("reingest", "unchanged re-ingest", ext["reingest_s"], 1, 0, "s", "< 30 s"))]
    return rows


def extrapolate_1m(res: dict) -> dict | None:
    """Answer p95, query RSS and re-ingest at 1M chunks, linear in chunks through the two largest measured sizes."""
    pts = sorted((e["chunks"], e, res["query"].get(e["name"], {})) for e in res["ingest"] if e["chunks"] >= 5000)
    if len(pts) < 2:
        return None
    (c1, e1, q1), (c2, e2, q2) = pts[-2], pts[-1]

    def line(y1, y2):
        if y1 is None or y2 is None:
            return None
        # A noisy smaller size can measure slower than the larger one; nothing shrinks with the index.
        return y2 + max(0.0, y2 - y1) * (1_000_000 - c2) / (c2 - c1)

    return {"from": f"{c1:,} and {c2:,} chunks", "p95_ms": line(q1.get("answer", {}).get("p95"), q2.get("answer", {}).get("p95")),
            "rss_mb": line(q1.get("peak_rss_answers_mb"), q2.get("peak_rss_answers_mb")),
            "reingest_s": line(e1.get("reingest_wall_s"), e2.get("reingest_wall_s"))}


def plot_growth(res: dict, path: Path) -> None:
    """Query latency and memory against index size (log x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = sorted((e["chunks"], res["query"][e["name"]]) for e in res["ingest"] if e["name"] in res["query"])
    x = [c for c, _ in pts]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label, style in (("answer", "docqa answer p50", "o-"), ("answer95", "docqa answer p95", "o--"),
                              ("baseline_retrieve", "plain llama-index retrieve p50", "s-"),
                              ("query_embedding", "one query embedding p50", "^:")):
        src, stat = (("answer", "p95") if key == "answer95" else (key, "p50"))
        ys = [q.get(src, {}).get(stat) for _, q in pts]
        if any(y is not None for y in ys):
            a1.plot(x, ys, style, label=label)
    a1.set_xscale("log")
    a1.set_xlabel("chunks in the index")
    a1.set_ylabel("ms (warm)")
    a1.set_title("Query latency")
    a1.grid(alpha=.3)
    a1.legend(fontsize=8)
    a2.plot(x, [q.get("peak_rss_answers_mb") for _, q in pts], "o-", label="query process peak RSS (docqa answers)")
    a2.plot(x, [q.get("peak_rss_total_mb") for _, q in pts], "^:", label="same process after the plain pipeline too")
    a2.plot(x, [e.get("index_mb") for e in sorted(res["ingest"], key=lambda e: e["chunks"])], "s--",
            label="index size on disk")
    if not any(e["chunks"] >= 900_000 for e in res["ingest"]):
        ext = extrapolate_1m(res)  # drawn apart and labelled: not a measurement
        if ext and ext["p95_ms"] is not None:
            a1.plot([x[-1], 1_000_000], [pts[-1][1].get("answer", {}).get("p95"), ext["p95_ms"]], "x:", color="gray",
                    label="answer p95, 1M extrapolated (not measured)")
            a1.legend(fontsize=8)
        if ext and ext["rss_mb"] is not None:
            a2.plot([x[-1], 1_000_000], [pts[-1][1].get("peak_rss_answers_mb"), ext["rss_mb"]], "x:", color="gray",
                    label="RSS, 1M extrapolated (not measured)")
    a2.set_xscale("log")
    a2.set_xlabel("chunks in the index")
    a2.set_ylabel("MiB")
    a2.set_title("Memory and disk")
    a2.grid(alpha=.3)
    a2.legend(fontsize=8)
    c = res["conditions"]
    fig.suptitle(f"docqa growth ({c['cores']} cores, {c['cpu'][:40]}; {c['date']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _profile_head(path: str | None, lines: int = 45) -> str:
    if not path or not Path(path).exists():
        return ""
    text = Path(path).read_text(errors="replace").splitlines()
    return "```\n" + "\n".join(text[:lines]) + "\n```\n"


def markdown(res: dict, out: Path) -> str:
    """results.md: conditions, targets, then one table per section."""
    from .fastindex import __doc__ as shortcut_doc

    c = res["conditions"]
    L = [f"# docqa benchmark results{' (QUICK smoke run: not representative)' if c['quick'] else ''}", "",
         f"Run {c['date']} on {c['cores']} cores ({c['cpu']}), {c['ram_gb']} GB RAM; load average at start "
         f"{', '.join(f'{x:.2f}' for x in c['load_avg_start'])}; Python {c['python']}, torch {c['torch']} "
         f"({c['torch_threads']} threads); commit {c['commit'] or '?'}. Sizes {c['sizes']}, real ingest up to "
         f"{c['real_ingest_max']} chunks, {c['repeats']} repeat(s); {c['questions']}. Total {res['total_s']:.0f}s.",
         "Latencies are percentiles over every (question, repeat) sample; other times are medians over the "
         "repeats; ratios are taken within this run. Regenerate: `.venv/bin/docqa bench --out bench/` "
         "(or `make bench`)."]
    for u in res.get("updates", []):
        cpu = f", {u['cpu']}" if u.get("cpu") else ""
        L.append(f"Updated {u['date']} (commit {u['commit'] or '?'}{cpu}, load average at start "
                 f"{', '.join(f'{x:.2f}' for x in u['load_avg_start'])}; `python -m bench.update`): {u['what']}.")
    L += ["", "## Targets", "", "| target | measured | goal | met |", "|---|---|---|---|"]
    for t in res["targets"]:
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        L.append(f"| {t['what']} | {t['measured']} | {t['target']} | {met} |")
    L += ["", "## Ingest", "", "| corpus | how built | docs | chunks | sentences | ingest wall s | in-process s | "
          "chunks/s | raw encode s (same texts) | ingest/raw | re-ingest wall s | peak RSS MiB | plain llama-index build s (nodes) |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in res["ingest"]:
        if e["mode"] == "real":
            L.append(f"| {e['name']} | real `docqa ingest` | {e['docs']} | {e['chunks']} | {e['sentences']} | "
                     f"{_f(e['ingest_wall_s'])} | {_f(e['ingest_in_process_s'])} | {_f(e['chunks_per_s'])} | "
                     f"{_f(e['raw_encode_s'])} ({_f(e['raw_texts_per_s'])} texts/s) | {_f(e['ratio_ingest_to_raw'], 2)}x | "
                     f"{_f(e['reingest_wall_s'], 2)} ({_f(100 * e['reingest_wall_s'] / e['ingest_wall_s'])}%) | "
                     f"{_f(e['ingest_peak_rss_mb'], 0)} | {_f(e['baseline_build_wall_s'])} ({e['baseline_nodes']}) |")
        else:
            L.append(f"| {e['name']} | shortcut ({_f(e['shortcut_build_s'], 0)} s, {e['shortcut_distinct_texts_encoded']} "
                     f"distinct texts encoded) | {e['docs']} | {e['chunks']} | {e['sentences']} | – | – | – | – | – | "
                     f"{_f(e['reingest_wall_s'], 2)} | {_f(e['reingest_peak_rss_mb'], 0)} (re-ingest) | "
                     f"{'shortcut' if e.get('baseline_dir') else 'not built at this size'} |")
    L += ["", f"Model load in the bench process: {res['model_load_s']:.1f}s (included in every ingest wall and "
          "in-process time, not in the raw encode). `ingest/raw` divides the in-process ingest time "
          "(the `docqa ingest` summary) by a single `SentenceTransformer.encode` call over exactly the chunk "
          "and sentence texts stored in that index, with the same batch size.",
          "", "## Query (warm)", "", "| corpus | chunks | answer p50 / p95 ms | plain retrieve-only p50 / p95 ms | "
          "answer/plain p50 | one query embedding p50 ms (ST) | refused | first answer in process s | peak RSS MiB |",
          "|---|---|---|---|---|---|---|---|---|"]
    for e in res["ingest"]:
        q = res["query"].get(e["name"])
        if not q:
            continue
        a, b = q.get("answer", {}), q.get("baseline_retrieve", {})
        qe, qst = q.get("query_embedding", {}), q.get("query_embedding_st", {})
        ratio = a["p50"] / b["p50"] if a and b else None
        refused = f"{100 * q['refused_share']:.0f}%" if "refused_share" in q else "–"
        L.append(f"| {e['name']} | {e['chunks']} | {_f(a.get('p50'))} / {_f(a.get('p95'))} | {_f(b.get('p50'))} / "
                 f"{_f(b.get('p95'))} | {_f(ratio, 2, 'x')} | {_f(qe.get('p50'), 2)} ({_f(qst.get('p50'), 2)}) | "
                 f"{refused} | {_f(q.get('first_answer_s'), 2)} | {_f(q.get('peak_rss_answers_mb'), 0)} |")
    skipped = {q.get("answer_skipped") for q in res["query"].values() if q.get("answer_skipped")}
    if skipped:
        L += ["", f"docqa answers not measured: {'; '.join(sorted(skipped))}."]
    L += ["", "Every answer sample embeds its question (the query-vector cache is cleared before each). "
          "One query embedding: docqa's `Embedder.encode_query` (in parentheses: `SentenceTransformer.encode` "
          "of the same single query, the hardware reference)."]
    rep = [f"{e['name']} {_f(res['query'][e['name']]['answer_repeat']['p50'])} ms" for e in res["ingest"]
           if res["query"].get(e["name"], {}).get("answer_repeat")]
    if rep:
        L += ["", "The same questions asked again (query vector cached, as on a retry), answer p50: "
              + ", ".join(rep) + "."]
    parts = {e["name"]: res["query"][e["name"]].get("answer_parts_ms_p50") for e in res["ingest"]
             if e["name"] in res["query"]}
    if any(parts.values()):
        keys = sorted({k for p in parts.values() if p for k in p})
        L += ["", "Where an answer's time goes (p50 ms of `Answer.timings_ms` parts):", "",
              "| corpus | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for name, p in parts.items():
            L.append(f"| {name} | " + " | ".join(_f((p or {}).get(k)) for k in keys) + " |")
    cold = res.get("cold", {})
    L += ["", "## Cold start", "", f"- `docqa --help`: {_f(cold.get('help_s'), 2)} s (median of "
          f"{len(cold.get('help_samples', []))})", f"- one-shot `docqa ask` (seed index): {_f(cold.get('ask_s'), 2)} s "
          f"(median of {len(cold.get('ask_samples', []))}), peak RSS {_f(cold.get('ask_peak_rss_mb'), 0)} MiB"
          + (f" — failed: {cold['ask_error']}" if cold.get("ask_error") else ""),
          f"- one-shot `docqa ask` answered by the warm helper (askd.py, left by the previous ask): "
          f"{_f(cold.get('ask_warm_s'), 2)} s (median of {len(cold.get('ask_warm_samples', []))}; the ask that "
          f"started it: {_f(cold.get('ask_first_s'), 2)} s), peak RSS {_f(cold.get('ask_warm_peak_rss_mb'), 0)} MiB "
          f"(the client process; the helper itself {_f(cold.get('ask_helper_peak_rss_mb'), 0)} MiB while it lives, "
          f"`ask_daemon_idle_s` = 300 s by default); same printed answer as the cold ask: "
          f"{cold.get('ask_warm_same_output')}", "",
          "## Serving (Gradio API on loopback, seed index)", ""]
    srv = res.get("serving", {})
    if srv.get("levels"):
        L += [f"Server start to listening: {_f(srv.get('startup_s'))} s; first request {_f(srv.get('first_request_s'), 2)} s; "
              f"RSS warm idle {_f(srv.get('rss_idle_warm_mb'), 0)} MiB, peak {_f(srv.get('rss_peak_mb'), 0)} MiB.", "",
              "| clients | requests ok | errors | requests/s | p50 ms | p95 ms |", "|---|---|---|---|---|---|"]
        for lv in srv["levels"]:
            L.append(f"| {lv['clients']} | {lv['ok']} | {lv['errors']} | {_f(lv['rps'], 2)} | {_f(lv['p50'])} | {_f(lv['p95'])} |")
    else:
        L.append(f"Not measured: {srv.get('skipped') or srv.get('error')}")
    t = res.get("tuning", {})
    if t:
        L += ["", f"## Encoder options ({t['sample_texts']} seed texts)", "", "| option | texts/s | max cosine distance to default |",
              "|---|---|---|"]
        L += [f"| batch {b['batch']} | {_f(b['texts_per_s'])} | {b['max_cosine_distance']:.1e} |" for b in t["batch"]]
        L += [f"| {x['threads']} torch thread(s) | {_f(x['texts_per_s'])} | {x['max_cosine_distance']:.1e} |" for x in t["threads"]]
        L += ["", f"ONNX backend: {t['onnx']}."]
    if res.get("variants"):
        from .variants import markdown as variants_table

        L += ["", "## Encoder variants side by side (the `encoder` setting)", "",
              "Each variant ingests the 1k-chunk corpus for real into its own index (`docqa ingest`, a subprocess) "
              "and answers the same questions on it; texts/s and cosine come from the encoder section below, eval "
              "deltas from the last `python -m bench.evaldeltas` run.", ""] + variants_table(res)
    if res.get("encoders"):
        from .encoders import markdown as encoders_table

        L += ["", "## Encoder variants (the `encoder` setting)", ""] + encoders_table(res["encoders"])
    if res.get("gpu"):
        from .gpu import markdown as gpu_table

        L += ["", "## GPU: the encoding stage of an ingest (optional; `device = \"cuda\"`)", ""] + gpu_table(res["gpu"])
    L += ["", "## Growth", "", "![growth](growth.png)", "", "## How the corpora were built", "", res["corpus_how"], "",
          "### The shortcut for large sizes", "", " ".join(shortcut_doc.split("\n\n", 1)[1].split()) if shortcut_doc else ""]
    for key, title in (("profile_answer", "Profile: answers at the largest size"),
                       ("profile_ingest", "Profile: `docqa ingest --rebuild` of the seed corpus")):
        if res.get(key):
            L += ["", f"## {title}", "", _profile_head(res[key])]
    return "\n".join(L) + "\n"
