"""One index writer at a time (ingest.lock): across processes, for the embedded store and a Chroma server.

Two `docqa ingest` processes on disjoint folders of one index, three rounds with files changing in
between, end with exactly a clean build's index; a UI upload during a CLI ingest loses nothing; a
writer killed while holding the lock leaves an index the next writer repairs; a second writer waits
(saying for whom) or, with --no-wait, exits naming the holder.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import IndexBusyError
from ingest.lock import _put, writer_lock
from ingest.pipeline import run_ingest
from ingest.store import open_store
from tests.test_chroma_server import chroma_server  # noqa: F401 - the fixture
from tests.test_crash import snapshot

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
SEED = sorted((ROOT / "corpus").glob("*.txt"))

HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from core.settings import load_settings
from ingest.lock import writer_lock
with writer_lock(load_settings()):
    print("held", flush=True)
    time.sleep({seconds})
"""


def _env(s, **extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), DOCQA_CORPUS_DIR=str(s.corpus_dir), DOCQA_INDEX_DIR=str(s.index_dir),
               DOCQA_CHROMA_MODE=s.chroma_mode, DOCQA_CHROMA_PORT=str(s.chroma_port), DOCQA_COLLECTION=s.collection)
    env.pop("DOCQA_FAULT", None)
    env.update(extra)
    return env


def _hold(s, seconds: float, cwd) -> subprocess.Popen:
    """A process holding the writer lock of ``s`` for ``seconds`` (it says "held" once it does)."""
    p = subprocess.Popen([sys.executable, "-c", HOLD.format(root=str(ROOT), seconds=seconds)], env=_env(s),
                         cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held", p.stderr.read()[-2000:]
    return p


def _server(make_settings, port, tmp_path, collection="docqa"):
    return make_settings().replace(chroma_mode="http", chroma_port=port, index_dir=tmp_path / "cache",
                                   collection=collection)


def _settings(mode, make_settings, tmp_path, request):
    """An empty corpus folder, its index embedded or on the test's Chroma server."""
    s = make_settings(copy_seed=False)
    return _server(make_settings, request.getfixturevalue("chroma_server"), tmp_path) if mode == "http" else s


# -- the lock itself ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["embedded", "http"])
def test_second_writer_waits_or_names_the_holder(mode, make_settings, tmp_path, request):
    s = _settings(mode, make_settings, tmp_path, request)
    holder = _hold(s, 5, tmp_path)
    try:
        with pytest.raises(IndexBusyError, match=rf"being written by host {socket.gethostname()}, "
                                                 rf"pid {holder.pid}, since \d\d:\d\d:\d\d; try again"):
            with writer_lock(s, wait=False):
                pass
        r = subprocess.run([sys.executable, "-m", "docqa", "ingest", "--no-wait", "--quiet"], env=_env(s),
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr[-1500:]
        assert r.stderr.startswith("error: ") and f"pid {holder.pid}" in r.stderr
        logged, t0 = [], time.monotonic()
        with writer_lock(s, wait=True, log=logged.append):
            waited = time.monotonic() - t0
        assert holder.wait(timeout=30) == 0
        assert waited > 0.5 and logged and f"pid {holder.pid}" in logged[0] and "waiting" in logged[0]
    finally:
        holder.kill()


@pytest.mark.parametrize("mode", ["embedded", "http"])
def test_a_killed_holder_frees_the_lock(mode, make_settings, tmp_path, request):
    s = _settings(mode, make_settings, tmp_path, request)
    holder = _hold(s, 120, tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    t0 = time.monotonic()
    with writer_lock(s, wait=False):  # its process is gone: no waiting out an expiry
        pass
    assert time.monotonic() - t0 < 5


def test_a_lease_from_another_host_expires(make_settings, tmp_path, chroma_server):  # noqa: F811
    s = _server(make_settings, chroma_server, tmp_path)
    with writer_lock(s):
        pass  # creates the meta collection and lease 1
    meta = open_store(s, "m", 1, create=True).meta
    live = {"host": "elsewhere", "pid": 1, "started": 0, "since": time.time(), "holder": "other",
            "expires": time.time() + 60, "beat": 0}
    _put(meta, 2, live, upsert=False)
    with pytest.raises(IndexBusyError, match="host elsewhere, pid 1"):
        with writer_lock(s, wait=False):
            pass
    _put(meta, 2, {**live, "expires": time.time() - 120}, upsert=True)  # its holder stopped renewing
    with writer_lock(s, wait=False):
        pass


def test_re_entrant_within_a_thread(make_settings):
    s = make_settings(copy_seed=False)
    with writer_lock(s, wait=False):
        with writer_lock(s, wait=False):  # e.g. Library.delete calling into a writer
            pass


# -- writers against the real store and model ------------------------------------------------------
def test_sweep_leaves_a_live_writers_vectors_alone(make_settings, embedder):
    """Vectors without a manifest record are another writer's work in flight unless the last writer died."""
    s = make_settings(copy_seed=False)
    _split_corpus(s.corpus_dir)
    run_ingest(s, progress=False, embedder=embedder)
    store = open_store(s, embedder.name, embedder.dim)
    orphan = {"doc_id": "x", "content_hash": "h", "source": "x.txt", "title": "X", "start": 0, "end": 1,
              "index": 0, "n_tokens": 1}
    store.chunks.upsert(ids=["in-flight"], embeddings=embedder.encode(["x"]).tolist(), documents=["x"],
                        metadatas=[orphan])
    r = run_ingest(s, progress=False, embedder=embedder)
    assert r.repaired == 0 and store.chunks.get(ids=["in-flight"])["ids"] == ["in-flight"]
    store.begin_write()  # now as if the writer that wrote it had died
    r = run_ingest(s, progress=False, embedder=embedder)
    assert r.repaired == 1 and store.chunks.get(ids=["in-flight"])["ids"] == []


def _split_corpus(corpus: Path) -> tuple[Path, Path]:
    """Two folders of two one-sentence documents each: the processes are under test, not the encoder,
    and a few short texts take the encoder's NumPy path (the same weights) in seconds."""
    from core.text import sentences

    a, b = corpus / "a", corpus / "b"
    a.mkdir(parents=True)
    b.mkdir()
    for i, p in enumerate(SEED):
        text = p.read_text(encoding="utf-8").replace("\\n", "\n")
        first = next(x for x in sentences(text) if 80 < len(x) < 160 and x.endswith("."))
        (a if i < 2 else b).joinpath(f"{p.stem}.txt").write_text(first + "\n")
    return a, b


def _round_edits(a: Path, b: Path, n: int) -> None:
    """Between rounds: change a file in each folder, add one to each, delete one."""
    for folder in (a, b):
        p = sorted(folder.glob("*.txt"))[0]
        p.write_text(p.read_text(encoding="utf-8") + f"Round {n} changed {folder.name}.\n", encoding="utf-8")
        (folder / f"round{n}.md").write_text(f"Round {n} notes in {folder.name} on warehouse robots.\n")
    (sorted(a.glob("*.txt"))[-1] if n == 2 else b / "round2.md").unlink()


def _two_writers(s, a: Path, b: Path, cwd) -> list[str]:
    """Both `docqa ingest` processes at once, one per folder; their stderr."""
    procs = [subprocess.Popen([sys.executable, "-m", "docqa", "ingest", "--quiet", str(folder)], env=_env(s),
                              cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for folder in (a, b)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    return [err for _, err in outs]


@pytest.mark.parametrize("mode", ["embedded", "http"])
def test_two_writers_on_disjoint_folders_equal_a_clean_build(mode, make_settings, embedder, tmp_path, request):
    s = _settings(mode, make_settings, tmp_path, request)
    a, b = _split_corpus(s.corpus_dir)
    waited = 0
    for n in (1, 2, 3):
        if n > 1:
            _round_edits(a, b, n)
        errs = _two_writers(s, a, b, tmp_path)
        waited += any("waiting for the index writer lock" in e for e in errs)
    ref = (s.replace(collection="reference") if mode == "http"
           else s.replace(index_dir=tmp_path / "reference-index"))
    run_ingest(ref, [a, b], progress=False, embedder=embedder)
    got, want = snapshot(s, embedder), snapshot(ref, embedder)
    assert got == want
    assert len(got[0]) == 4 + 2 * 2 - 2  # 4 documents, 2 new files in rounds 2 and 3, one deleted in each
    assert waited, "the two writers never overlapped: the test proves nothing"


def test_ui_upload_during_a_cli_ingest_loses_nothing(make_settings, embedder, tmp_path):
    from ingest.library import Library

    s = make_settings()
    upload = tmp_path / "robots.md"
    upload.write_text("# Robots in Henan\n\nWarehouse robots in Henan track every second of downtime.\n")
    cli = subprocess.Popen([sys.executable, "-m", "docqa", "ingest", "--quiet"], env=_env(s), cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        holder = s.index_dir / "writer.holder.json"
        deadline = time.time() + 120
        while not holder.exists() and time.time() < deadline and cli.poll() is None:
            time.sleep(0.05)
        assert holder.exists() and str(cli.pid) in holder.read_text(), "the CLI never held the lock"
        line = Library(s, embedder).add_files([str(upload)], progress=False)
    finally:
        out, err = cli.communicate(timeout=600)
    assert cli.returncode == 0, err[-2000:]
    assert "waiting for the index writer lock" in line and "saved robots.md" in line
    ref = s.replace(index_dir=tmp_path / "reference-index")
    run_ingest(ref, progress=False, embedder=embedder)
    assert snapshot(s, embedder) == snapshot(ref, embedder)
    assert len(snapshot(s, embedder)[0]) == 5


def test_a_writer_killed_holding_the_lock_is_repaired_by_the_next(make_settings, embedder, tmp_path):
    s = make_settings(copy_seed=False)
    _split_corpus(s.corpus_dir)
    r = subprocess.run([sys.executable, "-m", "docqa", "ingest", "--quiet"], env=_env(s, DOCQA_FAULT="before_switch:1"),
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == -signal.SIGKILL, r.stderr[-1500:]
    store = open_store(s, embedder.name, embedder.dim)
    assert store.left_dirty() and store.chunks.count() > 0 and store.docs.count() == 0
    assert len(store.dirty_docs()) == 4  # what it was writing: the next writer sweeps those only
    report = run_ingest(s, progress=False, embedder=embedder, wait=False)  # the lock died with its holder
    assert report.repaired > 0 and report.added == 4
    ref = s.replace(index_dir=tmp_path / "reference-index")
    run_ingest(ref, progress=False, embedder=embedder)
    assert snapshot(s, embedder) == snapshot(ref, embedder)
    assert not open_store(s, embedder.name, embedder.dim).left_dirty()
