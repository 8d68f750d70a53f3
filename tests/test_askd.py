"""The warm `docqa ask` helper (askd.py): real CLI processes, a real index, a real Unix socket."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Which court ruled that firms cannot lay off employees just because an AI system can do the job cheaper?"


@pytest.mark.unit
def test_helper_is_off_at_zero_and_never_uses_a_shared_folder(tmp_path, monkeypatch):
    import askd
    from core.errors import ConfigError
    from core.settings import Settings

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert askd.socket_path(Settings(ask_daemon_idle_s=0)) is None
    on = askd.socket_path(Settings(ask_daemon_idle_s=60))
    assert on is not None and on.parent.stat().st_mode & 0o777 == 0o700
    # top_k and mode travel with each question; anything else that changes answers is another helper
    assert askd.socket_path(Settings(ask_daemon_idle_s=60, top_k=9, mode="llm")) == on
    assert askd.socket_path(Settings(ask_daemon_idle_s=60, chunk_size=150)) != on
    on.parent.chmod(0o755)  # readable by others: no helper rather than a socket others could reach
    assert askd.socket_path(Settings(ask_daemon_idle_s=60)) is None
    with pytest.raises(ConfigError, match="ask_daemon_idle_s"):
        Settings(ask_daemon_idle_s=-1)


@pytest.mark.integration
def test_second_ask_is_answered_by_the_helper_and_an_ingest_retires_it(tmp_path):
    import askd
    from core.settings import load_settings

    shutil.copytree(ROOT / "corpus", tmp_path / "corpus")
    (tmp_path / "docqa.toml").write_text('corpus_dir = "corpus"\nindex_dir = "index"\nask_daemon_idle_s = 120\n')
    run_dir = tempfile.mkdtemp(prefix="askd", dir="/tmp")  # short: a Unix socket path has ~100 bytes
    env = dict(os.environ, XDG_RUNTIME_DIR=run_dir)
    env.pop("DOCQA_ASK_DAEMON_IDLE_S")

    def docqa(*args, importtime=False, helper=True):
        cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "docqa", *args]
        p = subprocess.run(cmd, cwd=tmp_path, env=env if helper else dict(env, DOCQA_ASK_DAEMON_IDLE_S="0"),
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        return p

    old_cwd, old_env = os.getcwd(), dict(os.environ)
    os.chdir(tmp_path)
    os.environ.clear()
    os.environ.update(env)  # exactly the CLI's environment: DOCQA_* variables are part of the socket's name
    try:
        path = askd.socket_path(load_settings())  # what the CLI computes in tmp_path
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)
    try:
        docqa("ingest", "--quiet")
        cold = docqa("ask", QUESTION)
        assert "Sources:" in cold.stdout
        deadline = time.monotonic() + 120
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert path.exists(), "the first ask started no helper"
        warm = docqa("ask", QUESTION, importtime=True)
        assert warm.stdout.splitlines()[:-1] == cold.stdout.splitlines()[:-1]  # the last line has the ms
        imported = {line.split("|")[-1].strip() for line in warm.stderr.splitlines() if "import time:" in line}
        assert "chromadb" not in imported and "onnxruntime" not in imported and "askd" in imported
        as_json = docqa("ask", QUESTION, "--json", "--k", "3")
        assert '"citations"' in as_json.stdout

        # another process re-indexes: the helper must not answer from what it loaded before
        (tmp_path / "corpus" / "lanzhou.txt").write_text(
            "Lanzhou canal news\n\nThe Lanzhou canal authority opened a robot museum in 2031. The museum shows "
            "industrial robots from the city's factories. Entry is free for students.\n")
        docqa("ingest", "--quiet")
        request = {"question": "What did the Lanzhou canal authority open?", "history": None}
        assert askd.ask(path, request, timeout=60) is None  # handed back: the index moved
        deadline = time.monotonic() + 30
        while path.with_suffix(".lock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not path.exists() and not path.with_suffix(".lock").exists()  # it quit and cleaned up
        fresh = docqa("ask", "What did the Lanzhou canal authority open?", helper=False)  # no helper to outlive us
        assert "robot museum" in fresh.stdout
    finally:
        askd.stop(path)
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.mark.unit
def test_a_changed_key_or_thread_count_means_another_helper(tmp_path, monkeypatch):
    """The helper keeps the environment it started with, so what it answers with must name its socket."""
    import askd
    from core.settings import Settings

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    s = Settings(ask_daemon_idle_s=60)
    first = askd.socket_path(s)
    monkeypatch.setenv(s.llm_api_key_env, "sk-other")
    second = askd.socket_path(s)
    monkeypatch.setenv("DOCQA_THREADS", "1")
    assert len({first, second, askd.socket_path(s)}) == 3
    assert "sk-other" not in str(second)
