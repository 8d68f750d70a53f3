"""docqa against a real Chroma server (client/server mode) gives the embedded store's results."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port

from core.errors import StoreUnavailableError
from ingest.pipeline import run_ingest
from ingest.store import open_store
from tests.test_crash import snapshot

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
CHROMA = Path(sys.executable).parent / "chroma"


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
    proc = subprocess.Popen([str(CHROMA), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.3)
    yield port
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_ingest_and_ask_match_embedded(tmp_path, chroma_server, embedder, make_settings):
    embedded = make_settings()
    server = embedded.replace(chroma_mode="http", chroma_port=chroma_server, index_dir=tmp_path / "server-cache")
    r1 = run_ingest(embedded, progress=False, embedder=embedder)
    r2 = run_ingest(server, progress=False, embedder=embedder)
    assert (r2.added, r2.total_chunks) == (r1.added, r1.total_chunks) == (4, r1.chunks)
    a, b = snapshot(embedded, embedder), snapshot(server, embedder)
    assert a[1].keys() == b[1].keys() and a[2].keys() == b[2].keys()
    assert {k: v[0] for k, v in a[1].items()} == {k: v[0] for k, v in b[1].items()}
    # Incremental against the server too.
    assert run_ingest(server, progress=False, embedder=embedder).unchanged == 4
    # The CLI end to end against the server, compared with the embedded store.
    questions = ["Which court ruled that firms cannot lay off workers just because AI is cheaper?",
                 "How many university graduates entered the job market in 2026?"]
    for q in questions:
        outs = []
        for s in (embedded, server):
            env = dict(os.environ, PYTHONPATH=str(ROOT), DOCQA_CORPUS_DIR=str(s.corpus_dir),
                       DOCQA_INDEX_DIR=str(s.index_dir), DOCQA_CHROMA_MODE=s.chroma_mode,
                       DOCQA_CHROMA_PORT=str(s.chroma_port))
            r = subprocess.run([sys.executable, "-m", "docqa", "ask", q, "--json"], env=env, capture_output=True,
                               text=True, cwd=tmp_path)
            assert r.returncode == 0, r.stderr[-1500:]
            out = json.loads(r.stdout)
            outs.append((out["answer"], [(c["source"], c["start"], c["end"]) for c in out["citations"]]))
        assert outs[0] == outs[1]
        assert outs[0][1], "no citations"


def test_server_down_is_a_clear_error(make_settings):
    s = make_settings().replace(chroma_mode="http", chroma_port=free_port())
    with pytest.raises(StoreUnavailableError, match=r"cannot reach the Chroma server at 127\.0\.0\.1:\d+ .*chroma run"):
        open_store(s, "m", 384)
    r = subprocess.run([sys.executable, "-m", "docqa", "status"], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), DOCQA_CHROMA_MODE="http",
                                DOCQA_CHROMA_PORT=str(s.chroma_port)))
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: cannot reach the Chroma server")
    assert len(r.stderr.strip().splitlines()) == 1
