"""Settings: TOML file, [tool.docqa], DOCQA_* overrides, and one-line errors."""
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import Settings, load_settings

pytestmark = pytest.mark.unit


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert s == Settings()
    assert s.index_dir == Path(".docqa") and s.chroma_mode == "embedded" and s.mode == "extractive"
    assert Path(s.model_path, "config.json").is_file()


def test_file_then_env_then_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docqa.toml").write_text('corpus_dir = "docs"\ntop_k = 7\nchroma_mode = "http"\n')
    s = load_settings(env={"DOCQA_TOP_K": "9", "DOCQA_CHROMA_PORT": "9000", "DOCQA_SOMETHING_ELSE": "x"})
    assert s.corpus_dir == tmp_path / "docs" and s.top_k == 9 and s.chroma_port == 9000
    assert s.chroma_mode == "http"
    assert load_settings(env={}, top_k=3).top_k == 3


def test_pyproject_tool_section(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.docqa]\ncollection = "mine"\n')
    assert load_settings(env={}).collection == "mine"


@pytest.mark.parametrize("toml,message", [
    ('colection = "x"', "unknown setting 'colection'"),
    ('top_k = "five"', "setting 'top_k' from .* must be of type int"),
    ('chunk_size = 400', "chunk_size must be <= 230"),
    ('mode = "magic"', "mode must be 'extractive' or 'llm'"),
    ('chroma_mode = "cloud"', "chroma_mode must be"),
    ('top_k = ', "not valid TOML"),
    ('device = "gpu"', "device must be 'cpu' or 'cuda'"),
    ('device = "cuda"', "set encoder = 'torch' too"),  # the default encoder is onnx: CPU only
])
def test_bad_config_is_one_clear_line(tmp_path, toml, message):
    cfg = tmp_path / "docqa.toml"
    cfg.write_text(toml + "\n")
    with pytest.raises(ConfigError, match=message) as e:
        load_settings(cfg, env={})
    assert "\n" not in str(e.value)


def test_bad_env_value(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"\$DOCQA_TOP_K"):
        load_settings(env={"DOCQA_TOP_K": "many"})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(env={"DOCQA_CONFIG": str(tmp_path / "missing.toml")})


def test_device_cuda_with_the_torch_encoder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={"DOCQA_DEVICE": "cuda", "DOCQA_ENCODER": "torch"})
    assert (s.device, s.encoder) == ("cuda", "torch")
