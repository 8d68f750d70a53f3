"""eval/calibrate.py: the answerability model is fitted by one command and reproduced byte for byte.

The development sets are not part of the project (../shared/datasets), so the test builds a small
stand-in with the same layout from the bundled corpus and question sets.
"""
import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


def _lines(path: Path, n: int) -> str:
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return "\n".join(rows[:n]) + "\n"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    base = tmp_path_factory.mktemp("datasets")
    seed, casual = ROOT / "eval" / "seed_qa.jsonl", ROOT / "eval" / "casual_qa.jsonl"
    for name, files in (("squad2-dev", {"fit.jsonl": seed, "eval.jsonl": casual}),
                        ("clapnq-dev", {"eval.jsonl": casual})):
        shutil.copytree(ROOT / "corpus", base / name / "corpus")
        for file, src in files.items():
            (base / name / file).write_text(_lines(src, 40), encoding="utf-8")
    return base


def test_calibrate_fits_writes_and_reproduces(datasets, tmp_path, make_settings, capsys):
    from eval.calibrate import main
    from qa.answerability import FEATURES, Model

    settings = make_settings(copy_seed=False)
    runs = []
    for name in ("a", "b"):
        out, png = tmp_path / f"{name}.json", tmp_path / f"{name}.png"
        assert main(["--datasets", str(datasets), "--out", str(out), "--png", str(png),
                     "--cache", str(tmp_path / "cache")], settings) == 0
        runs.append(out.read_bytes())
        assert png.stat().st_size > 1000
    assert runs[0] == runs[1]  # the same data and code give the same file, byte for byte
    spec = json.loads(runs[0])
    assert spec["features"] == list(FEATURES) and 0 < spec["threshold"] < 1
    assert len(runs[0]) < 1_000_000
    printed = capsys.readouterr().out
    assert "unanswerable refused" in printed and "threshold" in printed
    model = Model(spec)
    assert 0 <= model.probability(dict.fromkeys(FEATURES, 0.0)) <= 1
