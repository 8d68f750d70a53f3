"""The embedding model, loaded once per process from a local path (no hub).

Batches (ingest) run on sentence-transformers/torch. A few texts (a query) run on a
NumPy forward pass of the same weights (``npembed``), so a one-shot `docqa ask` does not
pay the 5-10 s import of sentence-transformers. Both give the same vectors (test_npembed).
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
SMALL_BATCH = 8  # up to this many short texts (queries) go through NumPy unless torch is loaded
SHORT_TEXT = 400  # characters; NumPy is fast for a query, torch for chunk-sized batches


def model_identity(model_path: str) -> tuple[str, int]:
    """(name, dim) of a local sentence-transformers model, read from its config files (no torch)."""
    root = Path(model_path)
    dim = 0
    try:
        dim = int(json.loads((root / "1_Pooling" / "config.json").read_text())["word_embedding_dimension"])
    except (OSError, ValueError, KeyError):
        try:
            dim = int(json.loads((root / "config.json").read_text())["hidden_size"])
        except (OSError, ValueError, KeyError):
            pass
    flat = str(model_path).lower().replace("-", "").replace("_", "")
    name = MODEL_NAME if "allminilml6v2" in flat else root.name
    return name, dim


class Embedder:
    """Normalised sentence embeddings from a local model; heavy parts load on first use."""

    def __init__(self, model_path: str, batch_size: int = 32):
        from core.offline import enforce_offline

        enforce_offline()
        self.model_path = model_path
        self.batch_size = batch_size
        self.name, self.dim = model_identity(model_path)
        self._st = None
        self._np = None

    @property
    def model(self):
        """The sentence-transformers model (loaded on first use)."""
        if self._st is None:
            import torch
            from sentence_transformers import SentenceTransformer

            # Never more threads than cores: oversubscription only adds contention.
            threads = int(os.environ.get("DOCQA_THREADS", "0")) or (os.cpu_count() or 1)
            torch.set_num_threads(max(1, min(threads, os.cpu_count() or 1)))
            self._st = SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
        return self._st

    def _numpy(self):
        if self._np is None:
            from .npembed import NumpyEncoder

            try:
                self._np = NumpyEncoder(self.model_path)
            except (ValueError, KeyError, OSError):
                self._np = False  # not a plain BERT model: always use sentence-transformers
        return self._np

    def encode(self, texts: list[str], progress=None):
        """float32 array (len(texts), dim), L2-normalised. ``progress(n)`` is called per batch."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        if (self._st is None and len(texts) <= SMALL_BATCH and max(map(len, texts)) <= SHORT_TEXT
                and self._numpy()):
            out = self._numpy().encode(list(texts))
            if progress:
                progress(len(texts))
            return out
        # Longest first, so each batch pads to similar lengths (what one big
        # SentenceTransformer.encode call does internally); slicing in input order instead
        # cost 1.46x the raw encode time on mixed chunk and sentence texts.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype="float32")
        for i in range(0, len(texts), self.batch_size):
            idx = order[i:i + self.batch_size]
            out[idx] = self.model.encode([texts[j] for j in idx], batch_size=self.batch_size,
                                         normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
            if progress:
                progress(len(idx))
        return out

    def encode_query(self, text: str):
        """One normalised query vector."""
        return self.encode([text])[0]


@functools.lru_cache(maxsize=2)
def get_embedder(model_path: str, batch_size: int = 32) -> Embedder:
    """A process-wide cached Embedder."""
    return Embedder(model_path, batch_size)
