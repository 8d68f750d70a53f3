"""The encoder variants behind the ``encoder`` setting: which runtime computes a vector, and what it costs.

| name | runtime | vectors |
|---|---|---|
| ``torch`` | sentence-transformers on torch, fp32 (the reference; queries on the NumPy pass, npembed.py) | reference |
| ``onnx`` | ONNX Runtime, fused fp32 graph (onnx_encoder.py) | the reference's, to ~1e-6 |
| ``onnx-int8`` | ONNX Runtime, every linear layer int8 (per-channel weights, dynamic activations) | drift, see MEASURED |
| ``onnx-int8-ffn`` | ONNX Runtime, only the feed-forward layers int8 | drift, see MEASURED |

Late chunking (``LATE``) is not a runtime but an ingest mode: sentence vectors pooled from the chunk's own
forward pass (ingest/late.py), with any of these runtimes.

An index records ``encoder_identity(settings)``: variants that write the same vectors share an identity
(torch and onnx are both "fp32"), so switching between them needs no rebuild; any other change does.
"""
from __future__ import annotations

from core.settings import ENCODERS

REFERENCE = "torch"
LATE = "late"  # the documented name of the late-chunking ingest mode (ingest/late.py)
GATE_MEAN, GATE_MIN = 0.99, 0.97  # issue 13: cosine to the reference on 2k dev texts, mean and minimum
RECIPE = 1  # onnx_encoder.RECIPE, repeated so identity() needs no numpy import; test_encoders checks they agree

# Cosine to the reference on the 2k gate texts (mean, min): bench/encoders.md (2026-11-26),
# `python -m bench.encoders`. tests/test_encoders.py checks each variant on a corpus/ sample against the
# verdict these numbers give, and that its mean has not moved from them.
MEASURED = {
    "torch": (1.0, 1.0),
    "onnx": (1.0, 1.0),  # 0.9999998 at worst: the same vectors
    "onnx-int8": (0.99405, 0.97701),
    "onnx-int8-ffn": (0.99527, 0.97984),
}
# Late chunking (ingest/late.py): cosine of its sentence vectors to the standalone reference ones (mean, min)
# on 1,518 sentences of 300 dev chunks. Far below the gate: the chunk's context moves every sentence.
LATE_SENTENCE_COSINE = (0.7731, 0.1402)


def passes_gate(mean: float, minimum: float) -> bool:
    """The issue's quality gate on cosine to the reference vectors."""
    return mean >= GATE_MEAN and minimum >= GATE_MIN


def gate_verdict(encoder: str) -> bool:
    """Whether ``encoder`` passed the gate in the recorded measurement (MEASURED)."""
    mean, minimum = MEASURED[encoder]
    return mean is not None and passes_gate(mean, minimum)


def identity(encoder: str) -> str:
    """The vector family an encoder writes: equal strings mean interchangeable vectors."""
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; one of {', '.join(ENCODERS)}")
    return "fp32" if encoder in ("torch", "onnx") else f"{encoder}-r{RECIPE}"


def settings_for(ident: str) -> str:
    """The ``encoder`` setting that writes the vector family ``ident`` (the first, for "fp32": onnx)."""
    return next((e for e in ("onnx", *ENCODERS) if identity(e) == ident), ident)


def encoder_identity(settings) -> str:
    """What an index records about the encoder that wrote it (no model is loaded)."""
    return identity(settings.encoder)


def open_encoder(model_path: str, encoder: str):
    """A loaded batch encoder for a variant other than torch: ``.encode(texts, batch_size)``, ``.token_states``."""
    from .onnx_encoder import OnnxEncoder

    if encoder == REFERENCE:
        raise ValueError("the torch encoder is Embedder.model (sentence-transformers)")
    return OnnxEncoder(model_path, encoder)
