"""The embedding model, loaded once per process from a local path (no hub)."""
from __future__ import annotations

import functools
import os

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def model_identity(model_path: str) -> tuple[str, int]:
    """(name, dim) of a local sentence-transformers model, read from its config files (no torch)."""
    import json
    from pathlib import Path

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
    """Normalised sentence embeddings from a local SentenceTransformer model."""

    def __init__(self, model_path: str, batch_size: int = 32):
        from .offline import enforce_offline

        enforce_offline()
        import torch
        from sentence_transformers import SentenceTransformer

        # Two cores here: more threads than cores only adds contention.
        torch.set_num_threads(max(1, min(os.cpu_count() or 1, int(os.environ.get("DOCQA_THREADS", "0")) or 64)))
        self.model_path = model_path
        self.batch_size = batch_size
        self.model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.name = model_identity(model_path)[0]

    def encode(self, texts: list[str], progress=None):
        """float32 array (len(texts), dim), L2-normalised. ``progress(n)`` is called per batch."""
        import numpy as np

        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = texts[i:i + self.batch_size]
            out.append(self.model.encode(batch, batch_size=self.batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=False))
            if progress:
                progress(len(batch))
        if not out:
            return np.zeros((0, self.dim), dtype="float32")
        return np.vstack(out).astype("float32")

    def encode_query(self, text: str):
        """One normalised query vector."""
        return self.encode([text])[0]


@functools.lru_cache(maxsize=2)
def get_embedder(model_path: str, batch_size: int = 32) -> Embedder:
    """A process-wide cached Embedder (loading the model takes seconds)."""
    return Embedder(model_path, batch_size)
