"""A small smoke run of the benchmark code (`docqa bench --quick`) on a one-article corpus.

The full benchmark is not part of the test suite (far too slow); this checks
that every section runs end to end on real components and writes sane numbers.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from bench.measure import Clock

ROOT = Path(__file__).resolve().parent.parent
SMALLEST_SEED = "000_6004c01da089df79.txt"


@pytest.mark.integration
def test_synthetic_corpus_is_deterministic_and_made_of_seed_sentences(tmp_path, make_settings):
    from bench.corpus import build_corpus, load_seed_pool

    settings = make_settings()
    a = build_corpus(tmp_path / "a", 120, ROOT / "corpus", settings, seed=7)
    b = build_corpus(tmp_path / "b", 120, ROOT / "corpus", settings, seed=7)
    files_a = sorted(p.name for p in (tmp_path / "a").glob("doc_*.txt"))
    assert a["docs"] == b["docs"] == len(files_a) > 1
    assert a["est_chunks"] >= 120
    for name in files_a:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # Every body sentence is a real seed sentence; titles are all distinct.
    pool = set(load_seed_pool(ROOT / "corpus").sentences)
    titles = set()
    for name in files_a:
        title, *paras = (tmp_path / "a" / name).read_text(encoding="utf-8").strip().split("\n\n")
        titles.add(title)
        assert any(s in " ".join(paras) for s in pool)
    assert len(titles) == len(files_a)
    c = build_corpus(tmp_path / "c", 120, ROOT / "corpus", settings, seed=8)
    assert c["docs"] != a["docs"] or (tmp_path / "c" / files_a[0]).read_text() != (tmp_path / "a" / files_a[0]).read_text()


@pytest.mark.integration
def test_shortcut_chunker_matches_the_real_one_on_the_seed_corpus(make_settings):
    from bench.fastindex import fast_chunk_document
    from ingest.chunk import chunk_document
    from ingest.pipeline import prepare_document

    settings = make_settings()
    for path in sorted((ROOT / "corpus").glob("*.txt")):
        doc = prepare_document(path, ROOT / "corpus")
        real, real_sents = chunk_document(doc, settings.chunk_size, settings.chunk_overlap, settings.model_path)
        fast, fast_sents, _ = fast_chunk_document(doc, settings)
        assert abs(len(fast) - len(real)) <= max(1, len(real) // 10), path.name
        assert [s.text for s in fast_sents] == [s.text for s in real_sents]
        assert all(doc.text[c.start:c.end] == c.text and c.n_tokens <= settings.chunk_size + 5 for c in fast)


@pytest.mark.integration
@pytest.mark.timeout(420)
def test_bench_quick_run_writes_tables_plot_and_sane_numbers(tmp_path, make_settings):
    from bench.run import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "corpus" / SMALLEST_SEED, corpus)
    settings = make_settings(corpus=corpus)
    out = tmp_path / "out"
    args = argparse.Namespace(sizes="120", out=out, quick=True, work=tmp_path / "work")
    assert main(args, settings) == 0

    res = json.loads((out / "results.json").read_text())
    seed, synth = res["ingest"]
    assert seed["mode"] == "real" and seed["docs"] == 1 and seed["chunks"] > 0
    assert seed["texts_embedded"] == seed["chunks"] + seed["sentences"]
    assert 0 < seed["raw_encode_s"] and 0 < seed["ingest_in_process_s"] <= seed["ingest_wall_s"]
    assert "nothing to embed" in seed["reingest_summary"]
    assert seed["ingest_peak_rss_mb"] > 100  # torch + the model: a real process was measured
    assert synth["mode"] == "shortcut" and 100 <= synth["chunks"] <= 200
    assert synth["sentences"] > synth["chunks"]
    assert "nothing to embed" in synth["reingest_summary"]
    for name in ("seed", "120"):
        q = res["query"][name]
        assert q["baseline_retrieve"]["p50"] > 0 and q["baseline_hits"] > 0
        assert q["query_embedding"]["p50"] > 0
        if (ROOT / "qa" / "answer.py").exists():
            assert 0 < q["answer"]["p50"] <= q["answer"]["p95"]
    assert 0 < res["cold"]["help_s"] < 10
    assert res["tuning"]["batch"] and res["tuning"]["batch"][0]["max_cosine_distance"] < 1e-3

    md = (out / "results.md").read_text()
    for heading in ("## Targets", "## Ingest", "## Query (warm)", "## Cold start", "## Serving", "## Growth"):
        assert heading in md
    assert "QUICK" in md and "shortcut" in md
    assert {t["key"] for t in res["targets"]} >= {"ingest_vs_raw", "ingest_reingest", "help", "ask_cold", "serve_rss"}
    assert (out / "growth.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # bench.update re-measures one size's query section in place and says so under the header.
    from bench.update import update

    again = update(json.loads((out / "results.json").read_text()), settings, ["120"], [], Clock())
    assert again["updates"][-1]["what"] == "query section re-measured at 120"
    assert 0 < again["query"]["120"]["answer"]["p50"] and again["query"]["seed"] == res["query"]["seed"]
    assert again["query"]["120"]["answer"] != res["query"]["120"]["answer"]  # measured anew, not copied
    with pytest.raises(SystemExit, match="no size 5000"):
        update(again, settings, ["5000"], [], Clock())


_HEADER = """
import json, sys
sys.path.insert(0, {root!r})
from pathlib import Path
import bench.fastindex as f
from core.settings import Settings
from ingest.embed import get_embedder
f.ENCODE_DOCS, f.FLUSH_SENTENCES = 2, 1  # one document per manifest switch
s = Settings(corpus_dir={corpus!r}, index_dir={index!r})
"""
_BUILD = _HEADER + """
print(json.dumps(f.shortcut_index(s, s.corpus_dir, lambda: get_embedder(s))))
"""


def _chunk_ids(index: Path, corpus: Path) -> tuple[set, dict]:
    from core.settings import Settings
    from ingest.store import get_all, open_store, read_index_model

    s = Settings(corpus_dir=corpus, index_dir=index)
    store = open_store(s, *read_index_model(s))
    return set(get_all(store.chunks, [])["ids"]), {d: r.content_hash for d, r in store.records().items()}


_STOPPED = _HEADER + """
def log(msg):
    print(msg)
    if "shortcut build: 2/" in msg:  # asked to stop while the first batch is being written
        (Path(s.index_dir) / f.STOP_FILE).touch()

try:
    f.shortcut_index(s, s.corpus_dir, lambda: get_embedder(s), log=log)
except f.BuildStopped as e:
    print("STOPPED", e)
"""


@pytest.mark.integration
def test_shortcut_build_stops_at_the_stop_file_and_resumes(tmp_path):
    """The stop file ends a build between batches with everything written so far recorded; a rerun resumes."""
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    code = _STOPPED.format(root=str(ROOT), corpus=str(corpus), index=str(tmp_path / "a"))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "STOPPED stopped at 2 documents by .bench-stop" in run.stdout, run.stderr[-2000:]
    assert (tmp_path / "a" / ".bench-partial").exists() and not (tmp_path / "a" / ".bench-built").exists()
    assert len(_chunk_ids(tmp_path / "a", corpus)[1]) == 2  # both documents of the batch, manifest switched
    again = subprocess.run([sys.executable, "-c", _BUILD.format(root=str(ROOT), corpus=str(corpus),
                                                                index=str(tmp_path / "a"))],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "resuming after 2 documents" in again.stdout, again.stderr[-2000:]
    assert not (tmp_path / "a" / ".bench-stop").exists()
    assert len(_chunk_ids(tmp_path / "a", corpus)[1]) == len(list(corpus.glob("*.txt")))


@pytest.mark.integration
def test_shortcut_build_killed_mid_write_resumes_to_the_same_index(tmp_path):
    """A build killed between a flush's vector writes and its manifest switch resumes: documents already in
    the manifest are skipped, the orphan vectors are swept, and the index equals an uninterrupted build's."""
    import os
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)

    def build(index: Path, fault: str | None = None):
        env = {k: v for k, v in os.environ.items() if k != "DOCQA_FAULT"} | ({"DOCQA_FAULT": fault} if fault else {})
        code = _BUILD.format(root=str(ROOT), corpus=str(corpus), index=str(index))
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)

    killed = build(tmp_path / "a", fault="before_switch:2")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (tmp_path / "a" / ".bench-partial").exists() and not (tmp_path / "a" / ".bench-built").exists()
    resumed = build(tmp_path / "a")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming after 1 documents" in resumed.stdout
    swept = int(resumed.stdout.split("documents (1 files), ")[1].split(" orphan")[0])
    assert swept > 0  # the second document's chunks were written before the kill
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["resumed_after_docs"] == 1
    assert (tmp_path / "a" / ".bench-built").exists() and not (tmp_path / "a" / ".bench-partial").exists()
    fresh = build(tmp_path / "b")
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert _chunk_ids(tmp_path / "a", corpus) == _chunk_ids(tmp_path / "b", corpus)
    assert len(_chunk_ids(tmp_path / "a", corpus)[1]) == len(list(corpus.glob("*.txt")))
