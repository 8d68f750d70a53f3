"""SIGKILL `docqa ingest` at several points; the next run must equal a clean build."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.pipeline import run_ingest
from core.settings import Settings
from ingest.store import open_store

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


def snapshot(settings, embedder):
    """Everything that defines an index's content (not timestamps)."""
    store = open_store(settings, embedder.name, embedder.dim)
    docs = store.docs.get(include=["documents", "metadatas"])
    chunks = store.chunks.get(include=["documents", "metadatas"])
    strip = lambda m: {k: v for k, v in m.items() if k != "indexed_at"}  # noqa: E731
    # Sentence vectors (float16, inside each chunk record) depend on the encode batch a text fell in, by ~1e-7:
    # the rest of each record must be equal.
    vecless = lambda m: {k: v for k, v in m.items() if k != "sentence_vecs"}  # noqa: E731
    return (
        {i: (d, strip(m)) for i, d, m in zip(docs["ids"], docs["documents"], docs["metadatas"])},
        {i: (d, vecless(m)) for i, d, m in zip(chunks["ids"], chunks["documents"], chunks["metadatas"])},
        {sid: (text, meta) for sid, text, meta, _ in store.stored_sentences()},
    )


def _edit_corpus(corpus: Path):
    """Change two files, add one, delete one: work for every kind of write."""
    for name, extra in (("001_d5c15e6c1eacf066.txt", "Zhejiang added a new insurance pilot in 2027."),
                        ("003_9069547e2e577a36.txt", "Jiangsu opened twelve more training centres.")):
        p = corpus / name
        p.write_text(p.read_text(encoding="utf-8") + "\n" + extra + "\n", encoding="utf-8")
    (corpus / "added.md").write_text("# Robots in Henan\n\nWarehouse robots in Henan track every second of "
                                     "downtime, according to a 2027 survey.\n", encoding="utf-8")
    (corpus / "000_6004c01da089df79.txt").unlink()


@pytest.fixture(scope="module")
def base(tmp_path_factory, embedder):
    """A pristine (corpus v1, index of v1) pair, and a clean build of the edited corpus (v2) to compare with.

    Every scenario works at the same path (root/work), because documents record their absolute path.
    """
    root = tmp_path_factory.mktemp("crash")
    shutil.copytree(ROOT / "corpus", root / "work" / "corpus")
    v1 = Settings(corpus_dir=root / "work" / "corpus", index_dir=root / "work" / "index")
    run_ingest(v1, progress=False, embedder=embedder)
    shutil.copytree(root / "work", root / "pristine")
    _edit_corpus(v1.corpus_dir)
    ref = v1.replace(index_dir=root / "ref-index")
    run_ingest(ref, progress=False, embedder=embedder)
    return root, v1, snapshot(ref, embedder)


def _scenario(base):
    from chromadb.api.shared_system_client import SharedSystemClient

    root, v1, expected = base
    SharedSystemClient.clear_system_cache()  # the index files under root/work are replaced below
    shutil.rmtree(root / "work")
    shutil.copytree(root / "pristine", root / "work")
    _edit_corpus(v1.corpus_dir)
    return v1, expected


def _env(s: Settings, **extra):
    env = dict(os.environ, DOCQA_CORPUS_DIR=str(s.corpus_dir), DOCQA_INDEX_DIR=str(s.index_dir),
               PYTHONPATH=str(ROOT), **extra)
    env.pop("DOCQA_FAULT", None)
    env.update(extra)
    return env


# Ingest writes a group of documents at a time (ingest.pipeline.ENCODE_GROUP texts); groups of 8
# texts make each changed document its own group, so ":2" and ":3" kill between groups.
_SMALL_GROUPS = "import sys, ingest.pipeline as p; p.ENCODE_GROUP = 8; from docqa import main; sys.exit(main())"


@pytest.mark.parametrize("fault,code", [("during_embedding:1", None), ("during_embedding:2", _SMALL_GROUPS),
                                        ("between_writes:1", None), ("before_switch:2", _SMALL_GROUPS),
                                        ("after_switch:1", None), ("after_switch:3", _SMALL_GROUPS)])
def test_killed_at_a_write_point_is_repaired(base, tmp_path, embedder, fault, code):
    s, expected = _scenario(base)
    cmd = [sys.executable, "-m", "docqa"] if code is None else [sys.executable, "-c", code]
    r = subprocess.run(cmd + ["ingest", "--quiet"], env=_env(s, DOCQA_FAULT=fault),
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-1500:])
    report = run_ingest(s, progress=False, embedder=embedder)
    assert report.total_chunks > 0
    assert snapshot(s, embedder) == expected


def test_killed_by_the_clock_during_embedding_is_repaired(base, tmp_path, embedder):
    s, expected = _scenario(base)
    proc = subprocess.Popen([sys.executable, "-m", "docqa", "ingest"], env=_env(s), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Wait until the progress bar shows embedding has begun, then kill without warning.
    deadline = time.time() + 120
    seen = ""
    while time.time() < deadline and "embedding" not in seen:
        seen += proc.stderr.read(64) or ""
        if proc.poll() is not None:
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    run_ingest(s, progress=False, embedder=embedder)
    assert snapshot(s, embedder) == expected
