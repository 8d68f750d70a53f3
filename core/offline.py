"""Switch off every phone-home path before heavy libraries are imported.

Each variable below was seen to reach the internet without it (see
../shared/offline-notes.md). ``enforce_offline`` is called by every entry
point (CLI, UI, tests) before torch, chromadb, gradio or llama-index load.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",  # Chroma
    "ORT_DISABLE_TELEMETRY": "1",  # onnxruntime looks up a Microsoft host on import
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def _llama_static() -> Path | None:
    try:
        spec = importlib.util.find_spec("llama_index.core")
    except ModuleNotFoundError:  # no llama_index at all (find_spec imports the parent package)
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "_static"


def enforce_offline() -> None:
    """Set the offline environment; idempotent and cheap (imports nothing heavy)."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
    static = _llama_static()
    if static is not None:
        # tiktoken downloads its BPE files unless pointed at llama-index's bundled copy.
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(static / "tiktoken_cache"))
        # NLTK data bundled with llama-index; another NLTK_DATA breaks its splitter.
        os.environ.pop("NLTK_DATA", None)


def configure_llama_index() -> None:
    """Stop llama-index from defaulting to OpenAI for its LLM and embeddings."""
    from llama_index.core import Settings as LISettings

    LISettings.llm = None  # becomes MockLLM: no OpenAI import, no network
    LISettings.embed_model = None  # MockEmbedding unless a caller sets a real one
