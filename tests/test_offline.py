"""No phone-home: ingestion, a query and the UI stack run with non-loopback sockets blocked."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCQA = [sys.executable, "-m", "docqa"]

GUARD = textwrap.dedent('''
    import ipaddress, os, socket, sys
    LOG = os.environ["NET_GUARD_LOG"]
    def _loop(host):
        if isinstance(host, bytes): host = host.decode()
        if host in ("localhost", "", None): return True
        try: return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError: return False
    def _hook(event, args):
        bad = None
        if event in ("socket.connect", "socket.sendto") and len(args) >= 2:
            sock, addr = args[0], args[-1]
            if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6) and not _loop(addr[0]):
                bad = f"{event} {addr!r}"
        elif event == "socket.getaddrinfo" and args and not _loop(args[0]):
            bad = f"getaddrinfo {args[0]!r}"
        if bad:
            with open(LOG, "a") as f: f.write(bad + "\\n")
            raise ConnectionRefusedError("blocked by test: " + bad)
    sys.addaudithook(_hook)
''')


def _guarded_env(tmp_path, **extra):
    site = tmp_path / "guard"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(GUARD)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "GRADIO", "ANONYMIZED", "ORT_",
                                                                       "TRANSFORMERS", "DOCQA_", "TIKTOKEN"))}
    env.update(PYTHONPATH=f"{site}:{ROOT}", NET_GUARD_LOG=str(tmp_path / "net.log"),
               DOCQA_CORPUS_DIR=str(tmp_path / "corpus"), DOCQA_INDEX_DIR=str(tmp_path / "index"),
               HOME=str(tmp_path / "home"), DOCQA_ASK_DAEMON_IDLE_S="0", **extra)  # no helper outliving the test
    return env


@pytest.mark.unit
def test_enforce_offline_sets_every_switch(monkeypatch):
    from core.offline import OFFLINE_ENV, enforce_offline

    for key in OFFLINE_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    enforce_offline()
    for key, value in OFFLINE_ENV.items():
        assert os.environ[key] == value
    assert Path(os.environ["TIKTOKEN_CACHE_DIR"]).is_dir()


@pytest.mark.unit
def test_enforce_offline_without_llama_index_installed():
    """The GPU bench runs docqa's encoder where only torch is installed: no llama_index, no crash."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import core.offline as o; o.enforce_offline(); "
            "import importlib.util as u; print(u.find_spec('llama_index') is None, o.os.environ['HF_HUB_OFFLINE'])")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "1"]


@pytest.mark.integration
def test_llama_index_has_no_openai_defaults():
    from core.offline import configure_llama_index

    configure_llama_index()
    from llama_index.core import Settings as LI

    assert type(LI.llm).__name__ == "MockLLM"
    assert "OpenAI" not in type(LI.embed_model).__name__


@pytest.mark.integration
def test_ingest_query_and_ui_stack_make_no_outbound_connection(tmp_path):
    shutil.copytree(ROOT / "corpus", tmp_path / "corpus")
    env = _guarded_env(tmp_path)
    log = tmp_path / "net.log"
    # The guard works: a real outbound attempt is caught and logged.
    probe = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('93.184.216.34', 80), 2)"],
                           env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "93.184.216.34" in log.read_text()
    log.unlink()

    r = subprocess.run(DOCQA + ["ingest", "--quiet"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(DOCQA + ["ask", "Which court ruled on AI layoffs?", "--json"], env=env,
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["citations"]
    # Gradio (server + client), tiktoken and llama-index, as the UI and eval use them.
    script = textwrap.dedent('''
        from core.offline import enforce_offline, configure_llama_index
        enforce_offline(); configure_llama_index()
        import tiktoken; tiktoken.get_encoding("cl100k_base")
        import gradio as gr
        with gr.Blocks() as demo:
            t = gr.Textbox(); b = gr.Button(); b.click(lambda x: x.upper(), t, t, api_name="up")
        demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
        from gradio_client import Client
        c = Client(demo.local_url, verbose=False)
        assert c.predict("hi", api_name="/up") == "HI"
        demo.close()
    ''')
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not log.exists(), f"outbound attempts: {log.read_text()}"


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs root and unshare")
def test_works_with_no_network_at_all(tmp_path):
    """In a network namespace with only loopback, ingest and ask still succeed."""
    shutil.copytree(ROOT / "corpus", tmp_path / "corpus")
    env = _guarded_env(tmp_path)
    r = subprocess.run(["unshare", "-n", *DOCQA, "ingest", "--quiet"], env=env, capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["unshare", "-n", *DOCQA, "ask", "How many university graduates entered the job market "
                        "in 2026?", "--json"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "12.7 million" in json.loads(r.stdout)["answer"]
