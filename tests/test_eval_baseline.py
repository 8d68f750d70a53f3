"""`docqa eval --baseline OLD/report.json` and `--fail-drop`: metric differences, flipped questions, relative gates."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import InputError
from docqa import main as cli
from eval.report import compare, flipped_questions, load_baseline, render_comparison
from eval.runner import EvalResult, aggregate, check_drops, parse_drops

SEED = Path(__file__).resolve().parent.parent / "eval" / "seed_qa.jsonl"


def _row(qid, hit, refused=False, unanswerable=False, facts=None, latency=10.0):
    return {"id": qid, "type": "unanswerable" if unanswerable else "factoid", "question": f"question {qid}?",
            "answer": "x", "unanswerable": unanswerable, "refused": refused, "latency_ms": latency, "error": None,
            "scores": {"hit@k": hit, "key_fact_recall": facts}}


def _result(rows):
    overall, by_type = aggregate(rows)
    return EvalResult(rows, overall, by_type, {"set": "hand-made", "k": 5, "mode": "extractive", "warnings": []})


def _as_baseline(result, path="old/report.json"):
    return {**result.to_json(), "path": path}


OLD = _result([_row("1", 1.0, facts=1.0), _row("2", 0.0, refused=True, facts=0.0), _row("3", 1.0, facts=1.0),
               _row("u", None, refused=False, unanswerable=True), _row("gone", 1.0)])
NEW = _result([_row("1", 0.0, facts=0.0, latency=50.0), _row("2", 1.0, facts=1.0), _row("3", 1.0, facts=1.0),
               _row("u", None, refused=True, unanswerable=True), _row("added", 1.0)])


@pytest.mark.unit
def test_flips_are_found_by_id_and_judged():
    flips = {(f["id"], f["change"]): f["better"] for f in flipped_questions(NEW.rows, OLD.rows)}
    assert flips == {("1", "hit -> miss"): False, ("2", "refused -> answered"): True, ("2", "miss -> hit"): True,
                     ("u", "answered -> refused"): True}  # refusing an unanswerable question is an improvement


@pytest.mark.unit
def test_compare_lists_every_metric_with_its_difference():
    cmp = compare(NEW, _as_baseline(OLD))
    by = {m["metric"]: m for m in cmp["metrics"]}
    assert by["hit@k"]["baseline"] == pytest.approx(0.75) and by["hit@k"]["now"] == pytest.approx(0.75)
    assert by["key_fact_recall"]["diff"] == pytest.approx(2 / 3 - 2 / 3)
    assert by["refusal_rate"]["diff"] == pytest.approx(1.0) and by["false_refusal_rate"]["diff"] == pytest.approx(-0.25)
    assert by["latency_p95_ms"]["lower_is_better"] and by["latency_p95_ms"]["diff"] > 0
    assert cmp["only_now"] == 1 and cmp["only_baseline"] == 1
    text = render_comparison(cmp, NEW.meta)
    assert "refusal_rate" in text and "+1.000" in text and "-0.250" in text
    assert "3 flipped (4 changes: 3 better, 1 worse)" in text and "hit -> miss" in text and "WORSE" in text
    assert "1 question(s) only in this run, 1 only in the baseline" in text


@pytest.mark.unit
def test_fail_drop_is_relative_and_knows_direction():
    base = _as_baseline(OLD)
    assert check_drops(NEW, base, parse_drops(["refusal_rate=0", "false_refusal_rate=0"])) == []
    fails = check_drops(OLD, _as_baseline(NEW), parse_drops(["refusal_rate=0.5", "false_refusal_rate=0.2",
                                                              "factoid/hit@k=0", "comparison/mrr=0.1"]))
    assert fails == ["refusal_rate dropped by 1.000 (baseline 1.000, now 0.000), more than 0.5",
                     "false_refusal_rate rose by 0.250 (baseline 0.000, now 0.250), more than 0.2",
                     "comparison/mrr: no data in this run to compare"]
    for spec, msg in [("key_fact_recall=-0.1", ">= 0"), ("facts=0.1", "METRIC one of"), ("mrr", "DELTA"),
                      ("riddle/mrr=0.1", "unknown type")]:
        with pytest.raises(InputError, match=msg):
            parse_drops([spec])


@pytest.mark.unit
def test_bad_baseline_and_drop_without_baseline_are_one_line_errors(tmp_path, capsys):
    assert cli(["eval", str(SEED), "--fail-drop", "hit@k=0.1"]) == 2
    assert "add --baseline" in capsys.readouterr().err
    (tmp_path / "x.json").write_text('{"not": "a report"}')
    for path, msg in [(tmp_path / "missing.json", "not found"), (tmp_path / "x.json", "not a docqa eval report")]:
        with pytest.raises(InputError, match=msg):
            load_baseline(path)
        assert cli(["eval", str(SEED), "--baseline", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and len(err.splitlines()) == 1


@pytest.mark.integration
def test_baseline_on_two_real_runs_that_differ(seed_settings, tmp_path, capsys):
    """k=1 vs k=5 on the seed set: k=5 retrieves more evidence, so questions flip from miss to hit."""
    cfg = tmp_path / "docqa.toml"
    cfg.write_text(f'corpus_dir = "{seed_settings.corpus_dir}"\nindex_dir = "{seed_settings.index_dir}"\n')
    base = ["--config", str(cfg), "eval", str(SEED), "--quiet"]
    assert cli(base + ["--k", "1", "--out", str(tmp_path / "k1")]) == 0
    capsys.readouterr()
    rc = cli(base + ["--k", "5", "--out", str(tmp_path / "k5"), "--baseline", str(tmp_path / "k1" / "report.json"),
                     "--fail-drop", "key_fact_recall=0.02", "--fail-drop", "hit@k=0"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    k1 = json.loads((tmp_path / "k1" / "report.json").read_text())
    k5 = json.loads((tmp_path / "k5" / "report.json").read_text())
    line = next(x for x in out.out.splitlines() if x.startswith("hit@k "))
    old, new, diff = line.split()[1:]
    assert float(old) == pytest.approx(k1["overall"]["hit@k"], abs=5e-4)
    assert float(new) == pytest.approx(k5["overall"]["hit@k"], abs=5e-4)
    assert float(diff) == pytest.approx(float(new) - float(old), abs=1.1e-3) and float(diff) > 0
    assert "k=1" in out.out and "k=5" in out.out  # the settings of both runs are named
    flips = k5["comparison"]["flipped"]
    expected = {q["id"] for q in k5["questions"] if q["scores"].get("hit@k") == 1.0} & \
        {q["id"] for q in k1["questions"] if q["scores"].get("hit@k") == 0.0}
    assert expected and {f["id"] for f in flips if f["change"] == "miss -> hit"} == expected
    assert all(f"  {i}  miss -> hit" in out.out for i in expected)
    md = (tmp_path / "k5" / "report.md").read_text()
    assert "## Compared with the baseline" in md and "| hit@k |" in md and "miss -> hit" in md

    # The other way round the same gate fails, naming the metric and how far it fell.
    rc = cli(base + ["--k", "1", "--baseline", str(tmp_path / "k5"), "--fail-drop", "key_fact_recall=0.02"])
    err = capsys.readouterr().err
    assert rc == 1 and "FAIL key_fact_recall dropped by" in err and "more than 0.02" in err
