"""A NumPy forward pass of a BERT sentence encoder (all-MiniLM-L6-v2), for queries.

Importing sentence-transformers takes 5-10 s on this class of machine; a query needs one
short embedding. This module loads the same safetensors weights and tokenizer and runs the
same computation (BERT -> mean pooling -> L2 normalisation) in NumPy, in milliseconds after
a ~0.3 s load. tests/test_npembed.py checks it against sentence-transformers.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def _layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x):
    # BERT's exact (erf) GELU; math.erf vectorised is slow, so use the float32 erf from scipy if present.
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover
        erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


class NumpyEncoder:
    """Same interface as ``ingest.embed.Embedder`` for encoding: normalised float32 vectors."""

    def __init__(self, model_path: str):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        root = Path(model_path)
        cfg = json.loads((root / "config.json").read_text())
        if cfg.get("model_type") != "bert" or cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"NumpyEncoder supports BERT models only, not {cfg.get('model_type')}")
        try:
            max_len = json.loads((root / "sentence_bert_config.json").read_text())["max_seq_length"]
        except (OSError, KeyError, ValueError):
            max_len = 256
        self.heads = cfg["num_attention_heads"]
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        self.dim = cfg["hidden_size"]
        w = load_file(str(root / "model.safetensors"))
        self.w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in w.items()}
        for i in range(self.layers):
            p = f"encoder.layer.{i}.attention.self."
            # One fused QKV matmul instead of three.
            self.w[p + "qkv.weight"] = np.concatenate([self.w[p + n + ".weight"].T for n in ("query", "key", "value")], 1)
            self.w[p + "qkv.bias"] = np.concatenate([self.w[p + n + ".bias"] for n in ("query", "key", "value")])
            for n in ("attention.output.dense", "intermediate.dense", "output.dense"):
                key = f"encoder.layer.{i}.{n}.weight"
                self.w[key + ".T"] = np.ascontiguousarray(self.w[key].T)
        self.tok = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.tok.enable_truncation(max_len)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def _forward(self, ids, mask):
        w, b, n, hd = self.w, ids.shape[0], ids.shape[1], self.dim // self.heads
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n][None] \
            + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        bias = ((1.0 - mask[:, None, None, :]) * np.float32(-1e9)).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            qkv = x @ w[p + "attention.self.qkv.weight"] + w[p + "attention.self.qkv.bias"]
            q, k, v = (t.reshape(b, n, self.heads, hd).transpose(0, 2, 1, 3) for t in np.split(qkv, 3, axis=-1))
            att = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(hd)) + bias
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, self.dim)
            h = ctx @ w[p + "attention.output.dense.weight.T"] + w[p + "attention.output.dense.bias"]
            x = _layer_norm(h + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                            self.eps)
            h = _gelu(x @ w[p + "intermediate.dense.weight.T"] + w[p + "intermediate.dense.bias"])
            h = h @ w[p + "output.dense.weight.T"] + w[p + "output.dense.bias"]
            x = _layer_norm(h + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        return x

    def encode(self, texts: list[str], batch_size: int = 16) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings, shape (len(texts), dim)."""
        out = []
        for i in range(0, len(texts), batch_size):
            enc = self.tok.encode_batch(texts[i:i + batch_size])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
            x = self._forward(ids, mask)
            pooled = (x * mask[..., None]).sum(1) / np.clip(mask.sum(1, keepdims=True), 1e-9, None)
            out.append(pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None))
        return np.vstack(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)
