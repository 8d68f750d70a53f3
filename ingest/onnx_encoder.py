"""ONNX Runtime encoders for the packaged MiniLM weights: fp32 (graph-optimised) and int8 (per-channel).

The ONNX file is built locally on first use, from the same safetensors weights the reference
(sentence-transformers on torch) loads: torch's TorchScript exporter writes the BERT graph, ONNX
Runtime's transformer optimizer fuses it (EmbedLayerNormalization, Attention, SkipLayerNormalization,
BiasGelu), and the int8 variants are quantised from that fp32 file. Nothing is downloaded. Files are
cached under ``$DOCQA_CACHE_DIR`` (default ``~/.cache/docqa``), named by a digest of the weights, the
recipe version and the exporter/runtime versions, so a changed model or recipe builds a new file and a
second load never re-exports. Building needs torch, transformers and the ``onnx`` package; running
needs only onnxruntime and tokenizers (a query process never imports torch).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from pathlib import Path

import numpy as np

RECIPE = 1  # bump when export, fusion or quantisation changes: files of older recipes are then ignored
OPSET = 17  # LayerNormalization is a standard op from 17 on; onnxruntime 1.32 runs up to 23
# Which MatMuls each variant quantises (per-channel symmetric int8 weights, dynamic uint8 activations).
# "ffn" = the two feed-forward projections of each layer, where a BERT layer spends 2/3 of its FLOPs.
QUANTISE = {"onnx": None, "onnx-int8": ("MatMul", "Attention"), "onnx-int8-ffn": "ffn"}
PAD_ID = 0  # BERT's [PAD] (the export's sample input)


def cache_dir() -> Path:
    """Where built model files live: ``core.settings.cache_root()`` / "onnx"."""
    from core.settings import cache_root

    return cache_root() / "onnx"


@functools.lru_cache(maxsize=None)
def _version(pkg: str) -> str:
    """The installed version of ``pkg`` (``importlib.metadata.version``, "none" if absent).

    Read from the name of its ``<pkg>-<version>.dist-info`` folder on sys.path first: importing
    importlib.metadata and scanning every distribution took ~0.1 s of a cold `docqa ask`."""
    import glob
    import sys

    for entry in sys.path:
        for found in glob.glob(os.path.join(glob.escape(entry or "."), f"{pkg}-*.dist-info")):
            return os.path.basename(found)[len(pkg) + 1:-len(".dist-info")]
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "none"


def weights_digest(model_path: str) -> str:
    """sha256 (16 hex) of the model's weights and configs, memoised by file size and mtime (no re-hash per start)."""
    root = Path(model_path)
    files = [root / n for n in ("model.safetensors", "config.json", "tokenizer.json") if (root / n).is_file()]
    stamp = [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]
    memo = cache_dir() / f"digest-{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]}.json"
    try:
        saved = json.loads(memo.read_text())
        if saved["stamp"] == stamp:
            return saved["digest"]
    except (OSError, ValueError, KeyError):
        pass
    h = hashlib.sha256()
    for f in files:
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    digest = h.hexdigest()[:16]
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"stamp": stamp, "digest": digest}))
        tmp.replace(memo)
    except OSError:
        pass  # a read-only cache only costs the re-hash next time
    return digest


def file_path(model_path: str, variant: str = "onnx") -> Path:
    """Where the ONNX file of ``variant`` for these weights lives (it may not be built yet)."""
    if variant not in QUANTISE:
        raise ValueError(f"unknown ONNX variant {variant!r}; one of {', '.join(QUANTISE)}")
    tag = f"r{RECIPE}-torch{_version('torch')}-ort{_version('onnxruntime')}".replace("+", "_")
    return cache_dir() / f"{weights_digest(model_path)}-{tag}" / f"{variant}.onnx"


def model_file(model_path: str, variant: str = "onnx") -> Path:
    """The cached ONNX file of ``variant`` for these weights, built (under a file lock) if missing."""
    path = file_path(model_path, variant)
    folder = path.parent
    if path.is_file():
        return path
    from filelock import FileLock  # after the usual case: importing it costs a cold `docqa ask` ~0.1 s
    fp32 = None if QUANTISE[variant] is None else model_file(model_path, "onnx")  # before the lock: not re-entrant
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from core.errors import ConfigError

        raise ConfigError(f"cannot create the ONNX model cache {folder} ({e.strerror}): set DOCQA_CACHE_DIR to a "
                          "writable folder, or set encoder = \"torch\"") from e
    with FileLock(str(folder / ".build.lock")):
        if path.is_file():  # another process built it while we waited
            return path
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        if QUANTISE[variant] is None:
            export_fp32(model_path, tmp)
        else:
            quantise(fp32, tmp, QUANTISE[variant])
        tmp.replace(path)  # atomic: a reader sees a whole file or none
    return path


def mapped_file(path: Path) -> Path:
    """``path`` re-saved with its weights in a side file, which ONNX Runtime maps instead of parsing them
    out of the graph: opening the fp32 session took 0.32 -> 0.09 s here (the query process of a cold
    `docqa ask`), same vectors. Written beside ``path`` on first use (~1 s, the onnx package only, under
    the build lock, published by one atomic rename); ``path`` itself when that cannot be done."""
    folder = path.with_suffix(".mapped")
    mapped = folder / "model.onnx"
    if mapped.is_file():
        return mapped
    try:
        import shutil

        import onnx
        from filelock import FileLock

        with FileLock(str(path.parent / ".build.lock")):
            if mapped.is_file():
                return mapped
            tmp = path.parent / f".{folder.name}.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            try:
                onnx.save_model(onnx.load(str(path)), str(tmp / "model.onnx"), save_as_external_data=True,
                                all_tensors_to_one_file=True, location="weights.bin", size_threshold=1024)
                os.replace(tmp, folder)  # a reader sees the whole folder or none
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return mapped
    except Exception:  # noqa: BLE001 - no onnx package, a read-only cache: the single file loads too
        return path


def export_fp32(model_path: str, out: Path) -> None:
    """Export the BERT encoder (token states) with torch, then fuse it with ONNX Runtime's optimizer."""
    import importlib.util
    import warnings

    from core.errors import ConfigError

    if importlib.util.find_spec("onnx") is None:
        raise ConfigError("building the ONNX encoder needs the onnx package: run `pip install onnx==1.23.2`, "
                          "or set encoder = \"torch\"")
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Eager attention exports the classic BERT pattern the optimizer fuses into one Attention op.
    bert = AutoModel.from_pretrained(model_path, local_files_only=True, attn_implementation="eager").eval()
    cfg = bert.config

    class TokenStates(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=torch.zeros_like(input_ids)).last_hidden_state

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids != PAD_ID).long()
    raw = out.with_suffix(".raw.tmp")
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "last_hidden_state": {0: "batch", 1: "tokens"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation notes about the legacy exporter
        torch.onnx.export(TokenStates(bert), (ids, mask), str(raw), dynamo=False, opset_version=OPSET,
                          input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                          dynamic_axes=axes, do_constant_folding=True)
    # opt_level 0: only the portable transformer fusions are saved; the session adds the rest at load.
    opt = optimize_model(str(raw), model_type="bert", num_heads=cfg.num_attention_heads,
                         hidden_size=cfg.hidden_size, opt_level=0)
    opt.save_model_to_file(str(out))
    raw.unlink(missing_ok=True)


def quantise(src: Path, dst: Path, which) -> None:
    """Dynamic int8 with per-channel weight scales: ``which`` is a tuple of op types, or "ffn"."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # "run pre-processing" advice
    nodes, ops = None, list(which) if which != "ffn" else ["MatMul"]
    if which == "ffn":
        graph = onnx.load(str(src), load_external_data=False).graph
        nodes = [n.name for n in graph.node if n.op_type == "MatMul"
                 and ("/intermediate/dense/" in n.name or ("/output/dense/" in n.name and "/attention/" not in n.name))]
        if not nodes:
            raise RuntimeError(f"no feed-forward MatMul found in {src}: export naming changed, bump RECIPE")
    # The fused contrib ops carry no shape-inferred types: tell the quantiser their outputs are float.
    quantize_dynamic(str(src), str(dst), per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=ops,
                     nodes_to_quantize=nodes, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def threads() -> int:
    """Worker threads: $DOCQA_THREADS or every core (never more: oversubscription only adds contention)."""
    n = int(os.environ.get("DOCQA_THREADS", "0")) or (os.cpu_count() or 1)
    return max(1, min(n, os.cpu_count() or 1))


class OnnxEncoder:
    """Normalised sentence vectors (mean pooling + L2, as sentence-transformers) from an ONNX Runtime session.

    The texts of a call are spread over ``threads()`` worker threads (one intra-op thread each). A long
    text (a chunk) runs alone, unpadded: measured here (bench/encoders.md), this beats padded batches of
    32 on all threads, whose activations overflow the CPU caches. Short texts (sentences) run a few at a
    time at one padded width in fp32 (``SHORT_BATCH``), which pays: the fixed cost of a run outweighs a
    sentence's compute. Every vector is independent of its batch-mates: the padded width is the text's
    own, and int8 variants run every text alone, since dynamic quantisation scales activations per input
    tensor and a batch-mate with a wider range moved a text's vector by up to 0.04 cosine.

    ``workers=1`` is the query encoder: one text at a time on every core's intra-op thread instead
    (one query 7.1 -> 4.9 ms on this 2-core machine, bit-identical vectors; bench/results.md).
    """

    def __init__(self, model_path: str, variant: str = "onnx", workers: int | None = None,
                 background: bool = False):
        from core.offline import enforce_offline

        enforce_offline()  # ORT_DISABLE_TELEMETRY before onnxruntime loads
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.variant, self.path = variant, model_file(model_path, variant)
        self.workers = workers or threads()
        self.dim = int(json.loads((Path(model_path) / "config.json").read_text())["hidden_size"])
        try:
            max_len = json.loads((Path(model_path) / "sentence_bert_config.json").read_text())["max_seq_length"]
        except (OSError, KeyError, ValueError):
            max_len = 256
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # A batch runs in parallel over texts, so one intra-op thread each; a lone query uses them all.
        so.intra_op_num_threads = 1 if self.workers > 1 else threads()
        if self.workers == 1:
            # No busy-waiting between queries: a server's other requests need the core. Paired runs here:
            # spinning gained another ~1 ms p50 but doubled p95 at 100k chunks (bench/results.md).
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self._session, self._error, self._opening = None, None, None
        if background:
            # ONNX Runtime releases the GIL while it builds the session (~0.1 s): the tokenizer loads and the
            # caller works meanwhile. Not a daemon thread: an exit before first use waits for it to finish.
            self._opening = threading.Thread(target=self._open, args=(ort, so), name="docqa-onnx-open")
            self._opening.start()
        else:
            self._open(ort, so)
            if self._error is not None:
                raise self._error
        self.tok = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        self.tok.enable_truncation(max_len)
        self.tok.no_padding()
        self._pool = None

    def _open(self, ort, so) -> None:
        try:
            try:
                self._session = ort.InferenceSession(str(mapped_file(self.path)), so,
                                                     providers=["CPUExecutionProvider"])
            except Exception:  # noqa: BLE001 - a damaged copy (weights.bin cut short): the built file itself
                self._session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - raised again by ``session``, in the caller's thread
            self._error = e

    def ready(self) -> bool:
        """Whether the session opened (waits for a background open)."""
        try:
            return self.session is not None
        except Exception:  # noqa: BLE001 - the caller falls back; ``session`` raises it again if used
            return False

    @property
    def session(self):
        """The ONNX Runtime session (waits for a background open; raises what opening it raised)."""
        opening = self._opening  # a local: another thread may clear it meanwhile
        if opening is not None:
            opening.join()
            self._opening = None
        if self._error is not None:
            raise self._error
        return self._session

    def _states(self, text: str):
        """(token states [n, dim], the tokenizer's Encoding) of one text, unpadded."""
        enc = self.tok.encode(text)
        ids = np.array([enc.ids], dtype=np.int64)
        return self.session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0], enc

    def _map(self, fn, texts: list[str]) -> list:
        if len(texts) == 1 or self.workers == 1:
            return [fn(t) for t in texts]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="docqa-onnx")
        return list(self._pool.map(fn, texts))  # onnxruntime releases the GIL while it runs

    def token_states(self, texts: list[str]) -> list[tuple[np.ndarray, list[tuple[int, int]], list[int]]]:
        """Per text: (token states [n, dim], character offsets per token, special-token mask), one pass."""
        def one(text):
            states, enc = self._states(text)
            return states, list(enc.offsets), list(enc.special_tokens_mask)

        return self._map(one, list(texts))

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """float32 (len(texts), dim), L2-normalised, rows in input order (``batch_size`` is not needed).

        fp32 ingest: short texts (sentences) run in small batches of one padded length (see ``_groups``),
        the rest alone. A text's vector depends on the text only, never on what else is in the call.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.variant != "onnx" or self.workers == 1:
            # int8 scales activations per input tensor, so a batch-mate would move a vector; a query is one text
            rows = self._map(lambda t: mean_pool(self._states(t)[0][None], None)[0], list(texts))
            return np.vstack(rows).astype(np.float32)
        encs = [self.tok.encode(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for group, vecs in self._map(lambda g: (g, self._run_group([encs[i].ids for i in g])), _groups(encs)):
            out[group] = vecs
        return out

    def _run_group(self, seqs: list[list[int]]) -> np.ndarray:
        """Pooled vectors of token-id sequences, padded to one length (masked positions add exact zeros)."""
        width = _padded(len(seqs[0])) if len(seqs[0]) <= SHORT_TOKENS else len(seqs[0])
        ids = np.full((len(seqs), width), PAD_ID, dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=np.int64)
        for k, seq in enumerate(seqs):
            ids[k, :len(seq)], mask[k, :len(seq)] = seq, 1
        states = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return mean_pool(states, mask)


# Per-run overhead dominates a sentence's few dozen tokens: texts of up to SHORT_TOKENS wordpieces run
# SHORT_BATCH at a time, each padded to the next multiple of PAD_TO. The padded width depends on the text
# alone, so its vector does too (bit-identical alone or with any batch-mates; tests/test_encoders.py) and
# differs from an unpadded run by float rounding only (cosine >= 0.9999998 on bench-corpus sentences).
# The query session (workers=1) runs unpadded, and so does ``Embedder.encode`` for a call of at most
# SMALL_BATCH short texts (it takes the query session): such a sentence's stored vector can differ from
# the same sentence's in a bigger call by that rounding, never more. Longer texts (chunks) run alone:
# padding them gained nothing (bench/encoders.md).
SHORT_TOKENS, SHORT_BATCH, PAD_TO = 64, 8, 8


def _padded(n: int) -> int:
    return -(-n // PAD_TO) * PAD_TO


def _groups(encs) -> list[list[int]]:
    """Indexes of ``encs`` in runs: short texts grouped by padded width, SHORT_BATCH at most; long ones alone."""
    short, runs = {}, []
    for i, e in enumerate(encs):
        n = len(e.ids)
        if n <= SHORT_TOKENS:
            short.setdefault(_padded(n), []).append(i)
        else:
            runs.append([i])
    for width in sorted(short):
        idx = short[width]
        runs += [idx[k:k + SHORT_BATCH] for k in range(0, len(idx), SHORT_BATCH)]
    return runs


def mean_pool(states: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """sentence-transformers' mean pooling and normalisation: sum(mask*h)/max(sum mask, 1e-9), then h/max(|h|, 1e-12).

    ``states`` is [batch, tokens, dim]; ``mask`` [batch, tokens] (None: every token is real)."""
    m = np.ones(states.shape[:2] + (1,), np.float32) if mask is None else mask[..., None].astype(np.float32)
    pooled = (states * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
    return (pooled / np.clip(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12, None)).astype(np.float32)
