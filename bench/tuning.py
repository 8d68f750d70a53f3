"""Encoder options and their cost: batch size, torch threads, and whether an ONNX backend is available.

Quality cost is measured directly: the largest cosine distance between a
text's vector under an option and under the default (batch 32, all cores).
A distance near 1e-6 means retrieval and answers cannot change.
"""
from __future__ import annotations

import importlib.util
import time


def _onnx_status(model_path: str) -> str:
    if importlib.util.find_spec("onnxruntime") is None:
        return "skipped: onnxruntime is not installed"
    return "built locally from the packaged weights (ingest/onnx_encoder.py): see the encoder variants section"


def bench_tuning(embedder, settings, texts: list[str], quick: bool, clock) -> dict:
    """texts/s per batch size and thread count on a fixed sample of the seed index's texts."""
    import numpy as np
    import torch

    clock.log("tuning: batch sizes and torch threads on a sample of the seed texts")
    # A fixed, mixed sample: long chunks and short sentences, in the index's order.
    sample = texts[: (16 if quick else 256)]
    model = embedder.model

    def run(batch: int) -> tuple[float, np.ndarray]:
        t = time.perf_counter()
        v = model.encode(sample, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)
        return time.perf_counter() - t, v

    base_threads = torch.get_num_threads()
    run(settings.embed_batch_size)  # warm
    _, ref = run(32)
    out: dict = {"sample_texts": len(sample), "threads_default": base_threads, "batch": [], "threads": []}
    for b in ((16, 64) if quick else (16, 32, 64, 128)):
        secs = []
        for _ in range(1 if quick else 2):
            s, v = run(b)
            secs.append(s)
        cos = float(np.max(1 - np.sum(v * ref, axis=1)))
        out["batch"].append({"batch": b, "texts_per_s": len(sample) / min(secs), "max_cosine_distance": cos})
    try:
        for n in ([] if quick else sorted({1, base_threads})):
            torch.set_num_threads(n)
            s, v = run(settings.embed_batch_size)
            out["threads"].append({"threads": n, "texts_per_s": len(sample) / s,
                                   "max_cosine_distance": float(np.max(1 - np.sum(v * ref, axis=1)))})
    finally:
        torch.set_num_threads(base_threads)
    out["onnx"] = _onnx_status(settings.model_path)
    return out
