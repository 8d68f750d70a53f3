"""Encoder variants side by side: texts/s, one-query latency, load time, cosine to the reference, gate.

    python -m bench.encoders [--n 2000] [--repeats 3] [--out bench/encoders.md]
    python -m bench.encoders load VARIANT        (worker: one fresh process's import + load + first query)

The gate texts are drawn with a seeded ``random.Random`` from every chunk and sentence of the dev
corpora (shared/datasets/squad2-dev and clapnq-dev, and corpus/), each file loaded, cleaned and chunked
as ``docqa ingest`` does. The reference is sentence-transformers on torch, fp32 (today's vectors).
Variants are timed in turns (round-robin over the repeats), so load on a shared machine hits them alike.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import ROOT  # noqa: E402

GATE_ROOTS = [ROOT.parent / "shared" / "datasets" / "squad2-dev" / "corpus",
              ROOT.parent / "shared" / "datasets" / "clapnq-dev" / "corpus", ROOT / "corpus"]
SEED = 13  # the number: any fixed seed makes the draw reproducible
# numpy: today's query path (npembed); onnx-b32: the fp32 session run the usual way (padded batches of 32,
# intra-op threads = cores), against which OnnxEncoder's one-text-per-run, texts-over-threads is chosen.
VARIANTS = ["torch", "numpy", "onnx", "onnx-int8", "onnx-int8-ffn", "onnx-b32"]
SUBSAMPLE = {"numpy": 200}  # the NumPy pass only ever encodes queries: its batch speed on fewer texts
LATE_CHUNKS = 300  # chunks (with ~5 sentences each) for the late-chunking rows


def corpus_units(settings, roots=None) -> tuple[list[str], list[tuple[str, list[tuple[int, int]]]]]:
    """(every chunk and sentence text, deduplicated, in file order; every chunk with its sentence spans)."""
    from ingest.chunk import chunk_document
    from ingest.clean import clean_text
    from ingest.load import load_file
    from ingest.models import Document

    texts, seen, chunks = [], set(), []
    for root in roots or [r for r in GATE_ROOTS if r.is_dir()]:
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file() and not p.name.startswith(".")):
            try:
                raw, _ = load_file(path)
            except Exception:  # noqa: BLE001 - an unreadable file is skipped, as ingest skips it
                continue
            cleaned = clean_text(raw, fallback_title=path.stem)
            doc = Document(str(path), path.name, str(path), cleaned.title, cleaned.text, "")
            cs, ss = chunk_document(doc, settings.chunk_size, settings.chunk_overlap, settings.model_path)
            for t in [c.text for c in cs] + [s.text for s in ss]:
                if t.strip() and t not in seen:
                    seen.add(t)
                    texts.append(t)
            for c in cs:
                spans = [(s.start - c.start, s.end - c.start) for s in ss if c.start <= s.start and s.end <= c.end]
                chunks.append((c.text, spans))
    return texts, chunks


def gate_texts(settings, n: int = 2000, roots=None, seed: int = SEED) -> list[str]:
    """``n`` texts drawn deterministically from the chunks and sentences of the corpora under ``roots``."""
    texts, _ = corpus_units(settings, roots)
    return random.Random(seed).sample(texts, min(n, len(texts)))


def _encoder(name: str, settings):
    """(batch encode fn, one-query fn) of a variant."""
    from ingest.embed import Embedder

    if name == "numpy":
        from ingest.npembed import NumpyEncoder

        enc = NumpyEncoder(settings.model_path)
        return (lambda ts: _sorted(enc.encode, ts, settings.embed_batch_size)), (lambda q: enc.encode([q])[0])
    if name == "onnx-b32":
        return _padded_batches(settings)
    e = Embedder(settings.model_path, settings.embed_batch_size, name)
    if name == "torch":  # the hardware reference: SentenceTransformer.encode, batch and single
        return e.encode, (lambda q: e.model.encode([q], normalize_embeddings=True, show_progress_bar=False)[0])
    e._onnx()  # noqa: SLF001 - load now, not inside the first timing
    return e.encode, e.encode_query


def _padded_batches(settings):
    """The fp32 ONNX file in padded, length-sorted batches on one session with intra-op threads = cores."""
    import numpy as np
    import onnxruntime as ort

    from ingest.onnx_encoder import OnnxEncoder, mean_pool, threads

    enc = OnnxEncoder(settings.model_path, "onnx")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads()
    sess = ort.InferenceSession(str(enc.path), so, providers=["CPUExecutionProvider"])
    tok = enc.tok
    tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def run(texts, batch_size=32):
        encs = tok.encode_batch(texts)
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        return mean_pool(sess.run(None, {"input_ids": ids, "attention_mask": mask})[0], mask)

    return (lambda ts: _sorted(run, ts, settings.embed_batch_size)), (lambda q: run([q])[0])


def _sorted(fn, texts, batch):
    import numpy as np

    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for i in range(0, len(texts), batch):
        idx = order[i:i + batch]
        out[idx] = fn([texts[j] for j in idx], batch_size=batch)
    return out


def _cold_load(name: str, reps: int) -> dict:
    """A fresh process's import + load + first query (median of ``reps`` processes)."""
    runs = []
    for _ in range(reps):
        p = subprocess.run([sys.executable, "-m", "bench.encoders", "load", name], cwd=ROOT, capture_output=True,
                           text=True, timeout=600)
        if p.returncode != 0:
            return {"error": "failed: " + (p.stderr.strip().splitlines() or ["?"])[-1]}
        runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _late(settings, chunks, reps: int) -> list[dict]:
    """Late chunking on the torch and fp32 ONNX runtimes: sentence-vector cosine to the standalone reference."""
    import numpy as np

    from ingest.embed import Embedder
    from ingest.late import late_chunk_batch

    items = random.Random(SEED).sample(chunks, min(LATE_CHUNKS, len(chunks)))
    sents = [t[a:b] for t, spans in items for a, b in spans]
    ref_e = Embedder(settings.model_path, settings.embed_batch_size, "torch")
    ref_c, ref_s = ref_e.encode([t for t, _ in items]), ref_e.encode(sents)
    rows = []
    for name in ("torch", "onnx"):
        e = Embedder(settings.model_path, settings.embed_batch_size, name)
        times, alone = [], []
        for _ in range(reps):
            t = time.perf_counter()
            got = late_chunk_batch(e, items)
            times.append(time.perf_counter() - t)
            t = time.perf_counter()
            e.encode([t_ for t_, _ in items] + sents)
            alone.append(time.perf_counter() - t)
        c = np.vstack([g[0] for g in got])
        s = np.vstack([g[1] for g in got if len(g[1])])
        cos_s, cos_c = np.sum(s * ref_s, 1), np.sum(c * ref_c, 1)
        n = len(items) + len(sents)
        rows.append({"variant": f"late ({name})", "chunks": len(items), "sentences": len(sents),
                     "vectors_per_s": n / statistics.median(times), "standalone_vectors_per_s": n / statistics.median(alone),
                     "cos_sent_mean": float(cos_s.mean()), "cos_sent_min": float(cos_s.min()),
                     "cos_sent_p05": float(np.percentile(cos_s, 5)), "cos_chunk_min": float(cos_c.min())})
    return rows


def bench_encoders(settings, n: int = 2000, repeats: int = 3, roots=None, clock=None, late: bool = True,
                   quick: bool = False) -> dict:
    """Every variant on the same ``n`` gate texts and ~30 questions (5 and 16 NumPy texts when ``quick``);
    returns the rows of bench/encoders.md."""
    import numpy as np

    from ingest.encoders import GATE_MEAN, GATE_MIN, passes_gate

    from .run import _questions

    log = clock.log if clock else (lambda m: print(m, file=sys.stderr))
    texts, chunks = corpus_units(settings, roots)
    sample = random.Random(SEED).sample(texts, min(n, len(texts)))
    questions, _ = _questions(quick)
    subsample = {v: 16 for v in SUBSAMPLE} if quick else SUBSAMPLE
    log(f"encoders: {len(sample)} gate texts from a pool of {len(texts)}; {len(VARIANTS)} variants x {repeats}")
    fns = {v: _encoder(v, settings) for v in VARIANTS}  # builds the ONNX files here if not cached yet
    vecs, speed, cpu, qms = {}, {v: [] for v in VARIANTS}, {v: [] for v in VARIANTS}, {v: [] for v in VARIANTS}
    for r in range(repeats):
        for v, (batch, one) in fns.items():
            texts_v = sample[:subsample.get(v, len(sample))]
            t, c = time.perf_counter(), time.process_time()  # CPU time: all threads, less hurt by others' load
            out = batch(texts_v)
            speed[v].append(len(texts_v) / (time.perf_counter() - t))
            cpu[v].append(len(texts_v) / (time.process_time() - c))
            vecs.setdefault(v, out)
            for q in questions[:2]:
                one(q)  # warm
            ts = []
            for q in questions:
                t = time.perf_counter()
                one(q)
                ts.append(time.perf_counter() - t)
            qms[v].append(1000 * statistics.median(ts))
        log(f"encoders: round {r + 1}/{repeats} done")
    rows = []
    for v in VARIANTS:
        cos = np.sum(vecs[v] * vecs["torch"][:len(vecs[v])], axis=1)
        load = _cold_load(v, repeats) if v != "onnx-b32" else {"error": "as onnx"}
        rows.append({"variant": v, "texts": len(vecs[v]), "texts_per_s": statistics.median(speed[v]), "texts_per_s_runs": speed[v],
                     "texts_per_cpu_s": statistics.median(cpu[v]),
                     "query_ms": statistics.median(qms[v]), "query_ms_runs": qms[v], "load": load,
                     "cos_mean": float(cos.mean()), "cos_min": float(cos.min()),
                     "gate": passes_gate(float(cos.mean()), float(cos.min()))})
    res = {"texts": len(sample), "pool": len(texts), "repeats": repeats, "batch": settings.embed_batch_size,
           "questions": len(questions), "gate": f"mean >= {GATE_MEAN}, min >= {GATE_MIN}", "rows": rows}
    if late:
        log("encoders: late chunking")
        res["late"] = _late(settings, chunks, repeats)
    return res


def markdown(res: dict) -> list[str]:
    """The variant table (and the late-chunking table) as Markdown lines."""
    f = (lambda x, nd=1: "–" if x is None else f"{x:,.{nd}f}")
    L = [f"{res['texts']} gate texts (drawn from {res['pool']} chunks and sentences), batch {res['batch']}, "
         f"{res['repeats']} repeat(s), medians; one query = median over {res['questions']} questions. Load: a fresh "
         "process importing the runtime, loading the model and encoding one query. Gate: cosine to torch fp32, "
         f"{res['gate']}. torch's one query is `SentenceTransformer.encode` of one text; with encoder = torch, docqa "
         "encodes a query on the fp32 ONNX session when its file is built, else on the NumPy pass (the numpy row). "
         "onnx-b32 runs the onnx file in padded batches of 32 on all cores, the usual way, against docqa's "
         "one text per run with the texts spread over the cores.", "",
         "| variant | texts/s | texts per CPU-s | one query ms | load s (import + load + 1st query) | cosine mean | "
         "cosine min | gate |", "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        ld = r["load"]
        load = ld["error"] if "error" in ld else f"{f(ld['total_s'], 2)} ({f(ld['import_s'], 2)} + " \
            f"{f(ld['load_s'], 2)} + {f(ld['first_query_s'], 2)})"
        name = r["variant"] + ("" if r["texts"] == res["texts"] else f" ({r['texts']} texts)")
        L.append(f"| {name} | {f(r['texts_per_s'])} | {f(r['texts_per_cpu_s'])} | {f(r['query_ms'], 2)} | {load} | {r['cos_mean']:.5f} | "
                 f"{r['cos_min']:.5f} | {'pass' if r['gate'] else '**fail**'} |")
    if res.get("late"):
        L += ["", "Late chunking (ingest/late.py): chunk + sentence vectors from one pass per chunk, against encoding "
              "each chunk and sentence alone on the same runtime; cosine of the late sentence vectors to the "
              "standalone reference (torch) sentence vectors.", "",
              "| mode | chunks | sentences | vectors/s | standalone vectors/s | sentence cosine mean | p5 | min | "
              "chunk cosine min |", "|---|---|---|---|---|---|---|---|---|"]
        for r in res["late"]:
            L.append(f"| {r['variant']} | {r['chunks']} | {r['sentences']} | {f(r['vectors_per_s'])} | "
                     f"{f(r['standalone_vectors_per_s'])} | {r['cos_sent_mean']:.4f} | {r['cos_sent_p05']:.4f} | "
                     f"{r['cos_sent_min']:.4f} | {r['cos_chunk_min']:.5f} |")
    return L


def _load_worker(name: str) -> None:
    t0 = time.perf_counter()
    from core.offline import enforce_offline
    from core.settings import load_settings

    enforce_offline()
    settings = load_settings()
    if name == "numpy":
        import numpy  # noqa: F401
        import tokenizers  # noqa: F401
        t1 = time.perf_counter()
        from ingest.npembed import NumpyEncoder
        enc = NumpyEncoder(settings.model_path)
        t2 = time.perf_counter()
        enc.encode(["What did the Hangzhou court rule?"])
    elif name == "torch":
        import sentence_transformers  # noqa: F401
        t1 = time.perf_counter()
        from ingest.embed import Embedder
        enc = Embedder(settings.model_path, encoder="torch").model
        t2 = time.perf_counter()
        enc.encode(["What did the Hangzhou court rule?"], show_progress_bar=False)
    else:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
        t1 = time.perf_counter()
        from ingest.embed import Embedder
        e = Embedder(settings.model_path, encoder=name)
        e._onnx()  # noqa: SLF001
        t2 = time.perf_counter()
        e.encode_query("What did the Hangzhou court rule?")
    t3 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_query_s": t3 - t2, "total_s": t3 - t0}))


def main(argv=None) -> int:
    """Measure every variant and write the Markdown table (date, machine, command) to ``--out``."""
    ap = argparse.ArgumentParser(prog="python -m bench.encoders")
    ap.add_argument("mode", nargs="?", default="bench")
    ap.add_argument("variant", nargs="?")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "encoders.md")
    ap.add_argument("--no-late", dest="late", action="store_false", help="skip the late-chunking rows")
    args = ap.parse_args(argv)
    if args.mode == "load":
        _load_worker(args.variant)
        return 0
    import datetime
    import os
    import platform

    from core.offline import enforce_offline
    from core.settings import load_settings

    enforce_offline()
    load0 = os.getloadavg()
    res = bench_encoders(load_settings(), n=args.n, repeats=args.repeats, late=args.late)
    res["load_avg"] = [load0, os.getloadavg()]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    head = ["# Encoder variants", "", f"Run {datetime.datetime.now():%Y-%m-%d %H:%M} on {os.cpu_count()} cores "
            f"({cpu}); load average {load0[0]:.2f} at start, {res['load_avg'][1][0]:.2f} at the end (a shared "
            f"machine: other work ran too). Command: `.venv/bin/python -m bench.encoders --n {args.n} "
            f"--repeats {args.repeats}{'' if args.late else ' --no-late'}`"
            + (f" with DOCQA_THREADS={os.environ['DOCQA_THREADS']}" if os.environ.get("DOCQA_THREADS") else "")
            + ".", ""]
    args.out.write_text("\n".join(head + markdown(res)) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str))
    print("\n".join(markdown(res)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
