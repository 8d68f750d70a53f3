"""`docqa eval`: gates, reports, and end-to-end runs on the real index, model and answer code."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import InputError
from docqa import main as cli
from eval.runner import EvalResult, aggregate, check_gates, parse_gates
from eval.report import render_table, write_reports

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "eval" / "seed_qa.jsonl"
SQUAD = Path(__file__).parent / "data" / "squad_tiny.json"


def _row(qid, qtype, hit=None, refused=False, unanswerable=False, latency=10.0):
    return {"id": qid, "type": qtype, "question": f"{qid}?", "answer": "x", "unanswerable": unanswerable,
            "refused": refused, "latency_ms": latency, "error": None,
            "scores": {"hit@k": hit, "key_fact_recall": hit}}


def _result():
    rows = [_row("1", "factoid", 1.0), _row("2", "factoid", 0.0, refused=True), _row("3", "list", 1.0),
            _row("4", "unanswerable", unanswerable=True, refused=True, latency=30.0)]
    overall, by_type = aggregate(rows)
    return EvalResult(rows, overall, by_type, {"set": "hand-made", "k": 5, "mode": "extractive", "warnings": []})


@pytest.mark.unit
def test_parse_gates_rejects_typos_and_wrong_direction():
    assert parse_gates(["hit@k=0.8", "factoid/mrr=0.5"], "--fail-under") == [(None, "hit@k", 0.8),
                                                                             ("factoid", "mrr", 0.5)]
    assert parse_gates(["false_refusal_rate=0.2"], "--fail-over") == [(None, "false_refusal_rate", 0.2)]
    for spec, flag, msg in [("hit@5=0.8", "--fail-under", "METRIC one of"), ("mrr=high", "--fail-under", "NUMBER"),
                            ("mrr", "--fail-under", "NUMBER"), ("riddle/mrr=0.1", "--fail-under", "unknown type"),
                            ("false_refusal_rate=0.2", "--fail-under", "--fail-over"),
                            ("hit@k=0.8", "--fail-over", "--fail-under")]:
        with pytest.raises(InputError, match=msg):
            parse_gates([spec], flag)


@pytest.mark.unit
def test_check_gates_on_known_values():
    r = _result()
    assert r.overall["hit@k"] == pytest.approx(2 / 3)
    assert r.overall["refusal_rate"] == 1.0 and r.overall["false_refusal_rate"] == pytest.approx(1 / 3)
    assert r.by_type["factoid"]["hit@k"] == 0.5
    assert r.weakest_type == "factoid"
    under = parse_gates(["hit@k=0.66", "list/hit@k=1", "factoid/hit@k=0.6", "comparison/mrr=0.1"], "--fail-under")
    over = parse_gates(["false_refusal_rate=0.5", "latency_p95_ms=20"], "--fail-over")
    fails = check_gates(r, under, over)
    assert fails == ["factoid/hit@k = 0.500 is below 0.6", "comparison/mrr: no data (no question defines it)",
                     f"latency_p95_ms = {r.overall['latency_p95_ms']:.3f} is above 20"]
    assert check_gates(r, parse_gates(["hit@k=0.6"], "--fail-under"), []) == []


@pytest.mark.unit
def test_reports_written(tmp_path):
    r = _result()
    paths = write_reports(r, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["overall"]["n"] == 4 and set(data["by_type"]) == {"factoid", "list", "unanswerable"}
    assert [q["id"] for q in data["questions"]] == ["1", "2", "3", "4"]
    md = paths["md"].read_text()
    assert "| factoid | 2 | 0.50 |" in md and "wrongly refused" in md
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = render_table(r)
    assert table.splitlines()[-1].startswith("OVERALL") and "0.67" in table


@pytest.mark.unit
def test_cli_empty_set_is_exit_2(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert cli(["eval", str(empty)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: eval set") and "is empty" in err and len(err.splitlines()) == 1
    assert cli(["eval", str(SEED), "--fail-under", "false_refusal_rate=0.1"]) == 2
    assert "--fail-over" in capsys.readouterr().err


def _config(tmp_path, settings=None, index=None) -> Path:
    cfg = tmp_path / "docqa.toml"
    corpus = settings.corpus_dir if settings else tmp_path / "main_corpus"
    index = index or settings.index_dir
    cfg.write_text(f'corpus_dir = "{corpus}"\nindex_dir = "{index}"\n')
    return cfg


@pytest.mark.integration
def test_eval_seed_slice_against_the_index(seed_settings, tmp_path, capsys):
    # One question of each type, plus a malformed line that must be skipped, not crash the run.
    by_type = {}
    for line in SEED.read_text(encoding="utf-8").splitlines():
        by_type.setdefault(json.loads(line)["type"], line)
    slice_ = tmp_path / "slice.jsonl"
    slice_.write_text("\n".join(list(by_type.values()) + ['{"id": "bad", "question": ']) + "\n")
    cfg = _config(tmp_path, seed_settings)
    out = tmp_path / "report"
    rc = cli(["--config", str(cfg), "eval", str(slice_), "--out", str(out), "--quiet",
              "--fail-under", "citation_validity=0", "--fail-over", "false_refusal_rate=1"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "line 9: not valid JSON" in captured.err
    assert "OVERALL" in captured.out and "weakest type:" in captured.out
    data = json.loads((out / "report.json").read_text())
    assert (out / "report.md").read_text().startswith("# docqa eval")
    assert (out / "report.png").stat().st_size > 10_000
    assert data["overall"]["n"] == 8 and set(data["by_type"]) == set(by_type)
    rows = {q["id"]: q for q in data["questions"]}
    for q in rows.values():
        assert q["error"] is None and q["latency_ms"] > 0 and len(q["retrieved"]) <= 5
        for name, v in q["scores"].items():
            assert v is None or 0.0 <= v <= 1.0, (q["id"], name, v)
    # The easiest question: its evidence must be retrieved, and every citation must be real text.
    f01 = rows["f01"]
    assert f01["scores"]["hit@k"] == 1.0
    assert data["overall"]["citation_validity"] in (None, 1.0)
    hits = [q["scores"]["hit@k"] for q in rows.values() if q["scores"].get("hit@k") is not None]
    assert data["overall"]["hit@k"] == pytest.approx(sum(hits) / len(hits))

    # The same run gated above anything achievable fails with exit 1, and says why.
    rc = cli(["--config", str(cfg), "eval", str(SEED), "--limit", "2", "--quiet", "--fail-under", "hit@k=1.01",
              "--fail-under", "refusal_rate=0.5"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "FAIL hit@k = 1.000 is below 1.01" in err and "FAIL refusal_rate: no data" in err


@pytest.mark.integration
def test_eval_throwaway_corpus_and_squad(tmp_path, capsys):
    from eval.evalset import squad_to_corpus

    main_index = tmp_path / "main_index"
    cfg = _config(tmp_path, index=main_index)
    # --format squad: contexts become a throwaway corpus.
    out = tmp_path / "squad_report"
    rc = cli(["--config", str(cfg), "eval", str(SQUAD), "--format", "squad", "--out", str(out), "--quiet", "--k", "2"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    data = json.loads((out / "report.json").read_text())
    assert data["overall"]["n"] == 7 and data["meta"]["k"] == 2
    assert set(data["by_type"]) == {"factoid", "unanswerable"}
    assert data["meta"]["n_docs"] == 3
    # --corpus DIR with a JSONL set over it.
    corpus = tmp_path / "docs"
    items, _ = squad_to_corpus(SQUAD, corpus)
    qa_set = tmp_path / "set.jsonl"
    qa_set.write_text("\n".join(json.dumps({k: v for k, v in i.to_json().items() if v}) for i in items[:3]))
    rc = cli(["--config", str(cfg), "eval", str(qa_set), "--corpus", str(corpus), "--quiet",
              "--fail-under", "factoid/hit@k=1"])
    assert rc == 0, capsys.readouterr().err
    assert not main_index.exists(), "the main index must never be touched"
