"""The GPU row of issue 13: docqa's ingest encoding on a GPU against plain ``SentenceTransformer.encode`` there.

    python -m bench.gpu prepare [--corpus .docqa/bench-work/corpus-1000] [--kit bench/out/gpu-kit]
    python3 bench/gpu.py run --kit bench/out/gpu-kit --out DIR      (on the GPU machine: torch, sentence-transformers)
    python -m bench.gpu merge FILE [--out bench/]                   (fold its gpu.json into results.json/.md)

``prepare`` runs a real ``docqa ingest`` of the 1k-chunk bench corpus here (ONNX encoder) and records
every text list the pipeline hands the encoder, in order (chunks and sentences, ENCODE_GROUP at a time);
it also splits the same corpus as the plain llama-index build does (``bench/baseline.py``) and keeps those
nodes' embed texts. The GPU machine cannot install docqa's other dependencies (Chroma, spaCy, BM25), so
``run`` times the encoding stage alone: docqa's ``Embedder`` (encoder "torch", device "cuda") fed the
recorded calls, against one ``SentenceTransformer.encode`` of the plain nodes, on the same card, in fp32
and fp16, at batch 32 (the default) and 256. The rest of an ingest (clean, chunk, entities, BM25,
Chroma writes) runs on the CPU wherever the encoder runs.

The kit travels to the GPU machine under a 64 MiB limit, so its weights are fp16 (45 MB, upcast to fp32
for the fp32 rows). Its reference vectors are CPU fp32 vectors of a fixed sample: from those same rounded
weights (the GPU path's own error) and from the packaged weights (the whole drift, rounding included).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = 1000  # texts whose GPU vectors are compared with CPU fp32 ones
SEED = 13


class _Recorder:
    """An embedder that records each text list the ingest pipeline asks it to encode."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, texts, progress=None):
        self.calls.append(list(texts))
        return self.inner.encode(texts, progress=progress)


def prepare(corpus: Path, kit: Path) -> dict:
    """Write the kit: recorded encode calls, plain node texts, fp16 weights, CPU reference vectors."""
    import tempfile

    import numpy as np

    from core.offline import configure_llama_index, enforce_offline
    from core.settings import load_settings
    from ingest.embed import Embedder
    from ingest.pipeline import run_ingest

    enforce_offline()
    shutil.rmtree(kit, ignore_errors=True)
    (kit / "model").mkdir(parents=True)
    base = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        s = base.replace(corpus_dir=corpus, index_dir=Path(tmp), encoder="onnx")
        rec = _Recorder(Embedder(s.model_path, s.embed_batch_size, "onnx"))
        rep = run_ingest(s, progress=False, embedder=rec)
    texts = [t for c in rec.calls for t in c]
    configure_llama_index()
    from llama_index.core import SimpleDirectoryReader
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode

    docs = SimpleDirectoryReader(str(corpus), required_exts=[".txt", ".md"], recursive=True,
                                 exclude_hidden=False).load_data()
    nodes = SentenceSplitter(chunk_size=base.chunk_size, chunk_overlap=base.chunk_overlap).get_nodes_from_documents(docs)
    plain = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    # fp16 weights: the packaged fp32 file alone (87 MB) is over the device's transfer limit.
    from safetensors.torch import load_file, save_file

    src = Path(base.model_path)
    for f in src.rglob("*"):
        if f.is_file() and f.name != "model.safetensors" and f.suffix != ".md":
            (kit / "model" / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, kit / "model" / f.relative_to(src))
    save_file({k: v.half().contiguous() for k, v in load_file(src / "model.safetensors").items()},
              kit / "model" / "model.safetensors")
    sample = sorted(random.Random(SEED).sample(range(len(texts)), min(SAMPLE, len(texts))))
    from sentence_transformers import SentenceTransformer

    refs = {}
    for name, path in (("ref_rounded", kit / "model"), ("ref_packaged", src)):
        st = SentenceTransformer(str(path), device="cpu", local_files_only=True).float()
        refs[name] = st.encode([texts[i] for i in sample], batch_size=32, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False).astype("float32")
        np.save(kit / f"{name}.npy", refs[name])
    meta = {"corpus": str(corpus), "chunks": rep.chunks, "sentences": rep.sentences, "texts": len(texts),
            "calls": len(rec.calls), "plain_nodes": len(plain), "sample": sample,
            "cos_rounded_vs_packaged_min": float((refs["ref_rounded"] * refs["ref_packaged"]).sum(1).min())}
    (kit / "calls.json").write_text(json.dumps(rec.calls))
    (kit / "plain.json").write_text(json.dumps(plain))
    (kit / "meta.json").write_text(json.dumps(meta))
    return meta


def run(kit: Path, reps: int = 3, device: str = "cuda", limit: int = 0, tok_parallel=("false",)) -> dict:
    """Time docqa's encoding of the recorded calls and plain ST.encode of the plain nodes on the GPU.

    ``device="cpu"`` with a small ``limit`` (texts per call) is a dry run of this script, not a measurement."""
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT))
    from bench.measure import time_call
    from ingest.embed import Embedder

    meta = json.loads((kit / "meta.json").read_text())
    calls, plain = json.loads((kit / "calls.json").read_text()), json.loads((kit / "plain.json").read_text())
    refs = {k: np.load(kit / f"{k}.npy") for k in ("ref_rounded", "ref_packaged")}
    if limit:
        calls, plain = [c[:limit] for c in calls], plain[:limit]
        keep = {i for i, j in enumerate(meta["sample"]) if j < limit}  # the first call's texts only
        meta = {**meta, "sample": [j for i, j in enumerate(meta["sample"]) if i in keep], "chunks": 0}
        refs = {k: v[sorted(keep)] for k, v in refs.items()}
    texts = [t for c in calls for t in c]
    gpu = device == "cuda"
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    res = {"device": torch.cuda.get_device_name(0) if gpu else "cpu (dry run)", "torch": torch.__version__,
           "meta": meta, "rows": []}
    for dtype, batch, tokpar in [(d, b, t) for d in ("fp32", "fp16") for b in (32, 256) for t in tok_parallel]:
        emb = Embedder(str(kit / "model"), batch, "torch", device)
        st = emb.model.float() if dtype == "fp32" else emb.model.half()
        # docqa sets it false (core/offline.py); the Rust tokenizer reads it at each call
        os.environ["TOKENIZERS_PARALLELISM"] = tokpar
        emb.encode(texts[:512])  # warm-up: kernels, allocator
        st.encode(plain[:512], batch_size=batch, show_progress_bar=False)
        vecs = {}

        def docqa():
            vecs["v"] = np.concatenate([emb.encode(c) for c in calls])

        def plain_encode():
            st.encode(plain, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True,
                      show_progress_bar=False)

        def plain_same():
            st.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True,
                      show_progress_bar=False)

        # Each call ends on a synchronise, so the next one starts with the GPU idle.
        t_docqa, t_plain, t_same = (time_call(lambda f=f: (f(), sync()), reps)[0]
                                    for f in (docqa, plain_encode, plain_same))
        got = vecs["v"][meta["sample"]]
        row = {"dtype": dtype, "batch": batch, "tokenizers_parallelism": tokpar, "docqa_s": t_docqa,
               "plain_s": t_plain, "plain_same_texts_s": t_same,
               "docqa_chunks_per_s": meta["chunks"] / t_docqa, "docqa_texts_per_s": len(texts) / t_docqa,
               "plain_nodes_per_s": len(plain) / t_plain, "plain_same_texts_per_s": len(texts) / t_same,
               "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if gpu else 0.0}
        for k, ref in refs.items():
            cos = (got * ref).sum(1)
            row[f"cos_{k}_mean"], row[f"cos_{k}_min"] = float(cos.mean()), float(cos.min())
        res["rows"].append(row)
        print(json.dumps(row), flush=True)
        del emb, st
        if gpu:
            torch.cuda.empty_cache()
    return res


def markdown(g: dict) -> list[str]:
    """The GPU section of results.md."""
    m = g["meta"]
    L = [f"Measured on {g['device']} (torch {g['torch']}), the encoding stage of an ingest of the 1k-chunk bench corpus "
         f"({m['chunks']} chunks + {m['sentences']} sentences = {m['texts']} texts in {m['calls']} encode call(s), "
         f"recorded from a real `docqa ingest` here) against one `SentenceTransformer.encode` of the plain build's "
         f"{m['plain_nodes']} nodes; medians of 3 after a warm-up. `python -m bench.gpu` (its docstring says why only "
         "the encoding stage runs there). Tokenizer threads: docqa sets `TOKENIZERS_PARALLELISM=false` on a CPU; "
         "each row says what both sides ran with. Cosine: the GPU vectors of a fixed 1,000-text sample against CPU "
         "fp32 vectors from the same (fp16-rounded, for the transfer) weights, and against the packaged weights' "
         f"(rounding alone: min {m['cos_rounded_vs_packaged_min']:.5f}).", "",
         "| precision | batch | tokenizer threads | docqa chunks/s | docqa texts/s | plain ST.encode nodes/s | "
         "ST.encode of docqa's texts, texts/s | cosine to CPU, same weights (mean / min) | cosine to packaged "
         "(mean / min) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in g["rows"]:
        par = "many" if r.get("tokenizers_parallelism") == "true" else "one"
        L.append(f"| {r['dtype']} | {r['batch']} | {par} | {r['docqa_chunks_per_s']:,.0f} | "
                 f"{r['docqa_texts_per_s']:,.0f} | {r['plain_nodes_per_s']:,.0f} | {r['plain_same_texts_per_s']:,.0f} | "
                 f"{r['cos_ref_rounded_mean']:.6f} / {r['cos_ref_rounded_min']:.6f} | "
                 f"{r['cos_ref_packaged_mean']:.5f} / {r['cos_ref_packaged_min']:.5f} |")
    return L


def best(g: dict, dtype: str = "fp32") -> dict:
    """The fastest docqa row of a precision, for the targets table."""
    return max((r for r in g["rows"] if r["dtype"] == dtype), key=lambda r: r["docqa_chunks_per_s"])


def merge(path: Path, out: Path) -> None:
    """Fold a GPU run's JSON into ``out``/results.json and rewrite results.md."""
    sys.path.insert(0, str(ROOT))
    from bench import report

    res = json.loads((out / "results.json").read_text())
    res["gpu"] = json.loads(path.read_text())
    res["gpu"]["meta"].pop("sample", None)  # 1,000 indexes: the kit's, not the report's
    res["targets"] = report.targets(res)
    (out / "results.json").write_text(json.dumps(res, indent=1, default=str))
    (out / "results.md").write_text(report.markdown(res, out))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("prepare")
    a.add_argument("--corpus", type=Path, default=ROOT / ".docqa" / "bench-work" / "corpus-1000")
    a.add_argument("--kit", type=Path, default=ROOT / "bench" / "out" / "gpu-kit")
    b = sub.add_parser("run")
    b.add_argument("--kit", type=Path, default=ROOT / "bench" / "out" / "gpu-kit")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--reps", type=int, default=3)
    b.add_argument("--device", default="cuda", help="cpu: a dry run of the script (with --limit), not a measurement")
    b.add_argument("--limit", type=int, default=0, help="texts per call (a dry run)")
    b.add_argument("--tokpar", default="false,true", help="TOKENIZERS_PARALLELISM values to run each row with")
    c = sub.add_parser("merge")
    c.add_argument("file", type=Path)
    c.add_argument("--out", type=Path, default=ROOT / "bench")
    args = p.parse_args(argv)
    if args.cmd == "prepare":
        sys.path.insert(0, str(ROOT))
        print(json.dumps({k: v for k, v in prepare(args.corpus, args.kit).items() if k != "sample"}))
    elif args.cmd == "run":
        args.out.mkdir(parents=True, exist_ok=True)
        res = run(args.kit, args.reps, args.device, args.limit, args.tokpar.split(","))
        (args.out / "gpu.json").write_text(json.dumps(res, indent=1))
    else:
        merge(args.file, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
