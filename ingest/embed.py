"""The embedding model, loaded once per process from a local path (no hub).

``encoder`` (a setting; ingest/encoders.py) picks the runtime. Batches (ingest) run on
sentence-transformers/torch ("torch", the reference) or on the variant's ONNX Runtime session
(onnx_encoder.py; "onnx", the default, gives torch's vectors). A few texts (a query) of the fp32
encoders run on the fp32 ONNX session if its file is built, else on a NumPy forward pass of the
same weights (``npembed``), so a one-shot `docqa ask` neither pays the 5-10 s import of
sentence-transformers nor builds a file; all give the same vectors (test_npembed, test_encoders).
The int8 variants encode queries on their own session, exactly as the index's texts were; its file
is built by `docqa ingest`, never by a query process.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
SMALL_BATCH = 8  # up to this many short texts (queries) skip torch unless it is loaded
SHORT_TEXT = 400  # characters; ONNX/NumPy are fast for a query, torch for chunk-sized batches
FP32 = ("torch", "onnx")  # encoders that write the reference's vectors: any fp32 runtime may encode their queries


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

    def __init__(self, model_path: str, batch_size: int = 32, encoder: str = "torch", device: str = "cpu"):
        from core.offline import enforce_offline

        from .encoders import identity

        enforce_offline()
        self.model_path = model_path
        self.batch_size = batch_size
        self.encoder = encoder
        self.device = device  # torch only ("cuda" is checked on first use, when torch loads)
        self.encoder_id = identity(encoder)  # what an index records (encoders.encoder_identity)
        self.name, self.dim = model_identity(model_path)
        self._st = None
        self._np = None
        self._ort = None
        self._tok = None
        self._pending = False  # the query encoder's session is opening in a thread (prefetch)

    @property
    def model(self):
        """The sentence-transformers model (loaded on first use)."""
        if self._st is None:
            import torch
            from sentence_transformers import SentenceTransformer

            # Never more threads than cores: oversubscription only adds contention.
            threads = int(os.environ.get("DOCQA_THREADS", "0")) or (os.cpu_count() or 1)
            torch.set_num_threads(max(1, min(threads, os.cpu_count() or 1)))
            if self.device == "cuda" and not torch.cuda.is_available():
                from core.errors import ConfigError

                raise ConfigError("device = 'cuda' but torch sees no CUDA GPU here: set device = 'cpu' "
                                  "(DOCQA_DEVICE=cpu)")
            if self.device == "cuda":
                # Tokenizing is the GPU's bottleneck: all cores for it (1.8x at batch 256, bench/results.md).
                os.environ["TOKENIZERS_PARALLELISM"] = "true"
            self._st = SentenceTransformer(self.model_path, device=self.device, local_files_only=True)
        return self._st

    def _few(self, background: bool = False):
        """The few-texts path of the torch encoder: the fp32 ONNX session if its file is built (faster,
        and cheaper to start: bench/encoders.md), else the NumPy pass; both give the reference's vectors.
        ``background``: the session opens in a thread (``prefetch``); checked on the next call."""
        if self._pending and not background:
            self._pending = False
            if not self._np.ready():
                self._np = self._numpy_pass()  # its background open failed: no second try
        if self._np is None:
            from .onnx_encoder import OnnxEncoder, file_path

            try:
                if file_path(self.model_path, "onnx").is_file():  # never built here: that needs torch
                    self._np = OnnxEncoder(self.model_path, "onnx", workers=1,  # queries: all cores on one
                                           background=background)
                    self._pending = background
            except Exception:  # noqa: BLE001 - any ONNX Runtime failure: the NumPy pass is always right
                self._np = None
        if self._np is None:
            self._np = self._numpy_pass()
        return self._np

    def _numpy_pass(self):
        from .npembed import NumpyEncoder

        try:
            return NumpyEncoder(self.model_path)
        except (ValueError, KeyError, OSError):
            return False  # not a plain BERT model: always use sentence-transformers

    def prefetch(self) -> None:
        """Start opening the query encoder, for a process about to encode one query (a one-shot ask).

        The ONNX session builds in a thread while the caller opens the index and reads the question
        (ONNX Runtime releases the GIL meanwhile); the first ``encode_query`` waits for it if need be.
        """
        if self._np is None and self.encoder in FP32 and self._st is None and self._ort is None \
                and self.device == "cpu":
            self._few(background=True)

    def _onnx(self):
        if self._ort is None:
            from .encoders import open_encoder
            from .onnx_encoder import threads

            few = self._np if self._np else None
            # The query path already opened this file; reused for batches only where it has their threading.
            if getattr(few, "variant", None) == self.encoder and getattr(few, "workers", 0) == threads():
                self._ort = few
            else:
                self._ort = open_encoder(self.model_path, self.encoder)
        return self._ort

    def _query_path(self):
        """The runtime for a few texts (queries) that loads fastest and builds nothing: see the module docstring."""
        if self.encoder in FP32 and self._st is None and self._ort is None and self.device == "cpu":
            return self._few()
        if self.encoder == "torch":
            return None  # torch is loaded: use it
        if self._ort is None:
            from .onnx_encoder import file_path

            if not file_path(self.model_path, self.encoder).is_file():
                from core.errors import ConfigError

                raise ConfigError(f"the {self.encoder} encoder is not built on this machine yet: run `docqa ingest` "
                                  "once (it builds it, ~20 s)")
        return self._onnx()

    def encode(self, texts: list[str], progress=None):
        """float32 array (len(texts), dim), L2-normalised. ``progress(n)`` is called per batch."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        if len(texts) <= SMALL_BATCH and max(map(len, texts)) <= SHORT_TEXT and self._query_path():
            out = self._query_path().encode(list(texts))
            if progress:
                progress(len(texts))
            return out
        if self.encoder != "torch":
            out = np.zeros((len(texts), self.dim), dtype="float32")
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # see the torch path below
            for i in range(0, len(texts), self.batch_size):
                idx = order[i:i + self.batch_size]
                out[idx] = self._onnx().encode([texts[j] for j in idx], self.batch_size)
                if progress:
                    progress(len(idx))
            return out
        # Longest first, so each batch pads to similar lengths (what one big
        # SentenceTransformer.encode call does internally); slicing in input order instead
        # cost 1.46x the raw encode time on mixed chunk and sentence texts.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype="float32")
        # On a GPU a batch takes about as long as one encode call's own overhead: 16 batches a call
        # (bench/results.md, GPU section). On a CPU the batch dominates; one a call keeps progress fine.
        step = self.batch_size * (16 if self.device == "cuda" else 1)
        for i in range(0, len(texts), step):
            idx = order[i:i + step]
            out[idx] = self.model.encode([texts[j] for j in idx], batch_size=self.batch_size,
                                         normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
            if progress:
                progress(len(idx))
        return out

    def encode_query(self, text: str):
        """One normalised query vector, on the fastest path that writes this encoder's vectors (any length)."""
        path = self._query_path()
        return path.encode([text])[0] if path else self.encode([text])[0]

    def token_states(self, texts: list[str]) -> list:
        """Per text, from one forward pass: (token states [n, dim] float32, (start, end) character offset of
        each token, special-token mask). The input of late chunking (ingest/late.py)."""
        import numpy as np

        if self.encoder != "torch":
            return self._onnx().token_states(list(texts))
        if self._tok is None:
            from tokenizers import Tokenizer

            self._tok = Tokenizer.from_file(str(Path(self.model_path) / "tokenizer.json"))
            self._tok.enable_truncation(self.model.max_seq_length)
            self._tok.no_padding()  # tokenizer.json pads to the batch's longest; states come unpadded
        encs = self._tok.encode_batch(list(texts))
        # sentence-transformers reads the same tokenizer.json; its token states come unpadded, per text.
        states = self.model.encode(list(texts), batch_size=self.batch_size, output_value="token_embeddings",
                                   convert_to_numpy=False, show_progress_bar=False)
        return [(np.asarray(s.float().cpu().numpy(), dtype=np.float32), list(e.offsets), list(e.special_tokens_mask))
                for s, e in zip(states, encs)]


def get_embedder(settings_or_path, batch_size: int | None = None, encoder: str | None = None) -> Embedder:
    """The process-wide Embedder for a ``Settings`` (model path, batch size, encoder, device) or a model path.

    Callers pass their Settings; a bare model path (the older form) always gives the torch reference.
    """
    if hasattr(settings_or_path, "model_path"):
        s = settings_or_path
        return _cached(s.model_path, batch_size or s.embed_batch_size, encoder or s.encoder, s.device)
    return _cached(settings_or_path, batch_size or 32, encoder or "torch", "cpu")


@functools.lru_cache(maxsize=4)
def _cached(model_path: str, batch_size: int, encoder: str, device: str = "cpu") -> Embedder:
    return Embedder(model_path, batch_size, encoder, device)
