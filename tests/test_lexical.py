"""BM25 versions: readers during continuous swaps always get scores and chunk ids of one version."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.lexical import CURRENT, publish, read_current

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parent.parent

# Version v has 3 + v % 11 documents "v<v>-<k>": a reader pairing one version's ids with another's
# scores sees a wrong length or a foreign id.
WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from ingest.lexical import publish
d, until = Path({d!r}), time.time() + {seconds}
v = 1
while time.time() < until:
    n = 3 + v % 11
    publish(d, f"sig{{v}}", [f"v{{v}}-{{k}}" for k in range(n)], [f"word{{v}} text number {{k}}" for k in range(n)])
    v += 1
print(v - 1)
"""


def _version(ids: list[str]) -> set[str]:
    return {i.split("-")[0] for i in ids}


def test_reads_during_continuous_swaps_never_mix_versions(tmp_path):
    d = tmp_path / "bm25-docqa"
    publish(d, "sig0", ["v0-0", "v0-1", "v0-2"], ["word0 a", "word0 b", "word0 c"])
    seconds = 6
    writer = subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT), d=str(d), seconds=seconds)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reads, versions = 0, set()
    try:
        deadline = time.time() + seconds
        while time.time() < deadline:
            got = read_current(d)
            assert got is not None, "a reader found no version during a swap"
            sig, bm25, ids = got
            v = sig.removeprefix("sig")
            assert _version(ids) == {f"v{v}"}, (sig, ids[:3])
            assert len(ids) == int(bm25.scores["num_docs"]) == 3 + int(v) % 11 or v == "0"
            # The scores are of this version's texts: its own word finds all of its documents.
            scores = bm25.get_scores_from_ids([bm25.vocab_dict[f"word{v}"]])
            assert (scores > 0).sum() == len(ids)
            reads += 1
            versions.add(v)
    finally:
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err[-2000:]
    published = int(out.strip())
    print(f"\n{reads} reads across {len(versions)} versions while {published} were published")
    assert published >= 10 and len(versions) >= 5, (published, versions)  # the swaps really raced the reads
    # Old versions are swept: the current one and its predecessor stay.
    assert len([p for p in d.iterdir() if p.name.startswith("v-")]) <= 2


def test_leftovers_of_killed_builders_are_swept(tmp_path):
    d = tmp_path / "bm25-docqa"
    publish(d, "a", ["x"], ["alpha"])
    (d / f".tmp-{os.getpid()}-deadbeef" / "bm25").mkdir(parents=True)  # a builder killed mid-save
    (d / f".{CURRENT}.cafe0000").write_text("v-half")  # a pointer it never switched
    old_layout = tmp_path / "bm25-docqa.tmp-123-456"  # the pre-versioning layout's temp folder
    old_layout.mkdir()
    (d / "meta.json").write_text("{}")  # and its unversioned files
    publish(d, "b", ["y"], ["beta"])
    names = sorted(p.name for p in d.iterdir())
    assert [n for n in names if n.startswith(".")] == []
    assert not old_layout.exists() and not (d / "meta.json").exists()
    sig, _, ids = read_current(d)
    assert (sig, ids) == ("b", ["y"])


def test_empty_index_and_missing_folder(tmp_path):
    d = tmp_path / "bm25-docqa"
    assert read_current(d) is None
    publish(d, "empty", [], [])
    assert read_current(d) == ("empty", None, [])


def test_token_id_corpus_scores_exactly_as_bm25s_with_its_own_vocabulary(tmp_path):
    """The build numbers tokens itself (TokenCorpus) to keep memory flat; scores must not move."""
    import bm25s
    import numpy as np

    from core.text import tokenize

    texts = [p for f in sorted((ROOT / "corpus").glob("*.txt"))
             for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    texts += ["", "!!!", "AI AI AI jobs"]  # no tokens at all; one token repeated
    ref = bm25s.BM25()
    ref.index([tokenize(t) or ["_empty_"] for t in texts], show_progress=False)
    d = tmp_path / "bm25-docqa"
    publish(d, "s", [str(i) for i in range(len(texts))], texts)
    _, got, ids = read_current(d)
    assert len(ids) == len(texts) == got.scores["num_docs"]
    assert set(got.vocab_dict) == set(ref.vocab_dict)
    queries = ["AI jobs", "Hangzhou court ruling layoffs", "_empty_", "employment unemployment rate youth",
               " ".join(sorted(ref.vocab_dict)[:40])]
    for q in queries:
        toks = [t for t in tokenize(q) if t in ref.vocab_dict]
        want = ref.get_scores_from_ids([ref.vocab_dict[t] for t in toks])
        have = got.get_scores_from_ids([got.vocab_dict[t] for t in toks])
        assert np.array_equal(want, have), q


def test_reader_scores_as_bm25s_own_loader_and_imports_neither_bm25s_nor_scipy(tmp_path):
    """Bm25Scores (NumPy only) must give bm25s.BM25.load's scores bit for bit, without its ~0.5 s import."""
    import bm25s
    import numpy as np

    from core.text import tokenize

    texts = [p for f in sorted((ROOT / "corpus").glob("*.txt"))
             for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    d = tmp_path / "bm25-docqa"
    publish(d, "s", [str(i) for i in range(len(texts))], texts)
    name = (d / "CURRENT").read_text().strip()
    ref = bm25s.BM25.load(str(d / name / "bm25"))
    _, got, _ = read_current(d)
    assert got.vocab_dict == ref.vocab_dict
    for q in ["AI jobs", "court ruling on layoffs", "youth unemployment rate in China", "employer employee"]:
        toks = [ref.vocab_dict[t] for t in tokenize(q) if t in ref.vocab_dict]
        assert np.array_equal(ref.get_scores_from_ids(toks), got.get_scores_from_ids(toks)), q
    with pytest.raises(ValueError, match="vocabulary"):
        got.get_scores_from_ids([len(ref.vocab_dict) + 5])
    probe = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path; "
             f"from ingest.lexical import read_current; read_current(Path({str(d)!r})); "
             "print(sorted(m for m in ('bm25s', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
