"""Feedback records (eval/feedback.py): append-only storage, settings fingerprint, export to eval lines.

The end-to-end path (/feedback through gradio_client, `docqa feedback export`, `docqa eval` on the
export) is in tests/test_ui_client.py; thumbs in a real browser in tests/test_ui_browser.py.
"""
from __future__ import annotations

import json
import multiprocessing
import threading

import pytest

from core.errors import InputError
from core.settings import Settings
from eval.evalset import load_evalset
from eval.feedback import (eval_line, export_evalset, feedback_path, load_feedback, record_feedback,
                           settings_fingerprint)

CITE = {"n": 1, "source": "a.txt", "title": "A", "quote": "The sky is green on Quenville.", "start": 10, "end": 40,
        "context": "ignored: not stored", "chunk_id": "c1"}
ANSWER = "The sky is green on Quenville. [1]"


def _settings(tmp_path, **kw):
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", **kw)


@pytest.mark.unit
def test_records_are_appended_whole_with_fingerprint_and_time(tmp_path):
    s = _settings(tmp_path)
    rec = record_feedback(s, "  What colour is the sky? ", [], ANSWER, [CITE], "extractive", "Like")
    assert rec["rating"] == "up" and rec["question"] == "What colour is the sky?" and rec["refused"] is False
    assert rec["citations"] == [{k: CITE[k] for k in ("n", "source", "title", "quote", "start", "end")}]
    assert rec["settings"] == settings_fingerprint(s, "extractive", 5) and rec["k"] == 5 and rec["time"] > 0
    record_feedback(s, "What colour is the sky?", [], ANSWER, [CITE], "extractive", False, comment=" wrong ")
    lines = feedback_path(s).read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["rating"] for x in lines] == ["up", "down"]
    assert json.loads(lines[1])["comment"] == "wrong"


@pytest.mark.unit
def test_fingerprint_follows_the_answer_settings_only(tmp_path):
    s = _settings(tmp_path)
    fp = settings_fingerprint(s)
    assert fp == settings_fingerprint(s.replace(port=9999, max_upload_mb=1))  # not answer-relevant
    assert fp != settings_fingerprint(s, k=3)
    assert fp != settings_fingerprint(s, mode="llm")
    for change in ({"chunk_size": 150}, {"chunk_overlap": 10}, {"refusal_threshold": 0.5}):
        assert fp != settings_fingerprint(s.replace(**change)), change
    assert settings_fingerprint(s, mode="llm") != settings_fingerprint(s.replace(llm_model="other"), mode="llm")


@pytest.mark.unit
def test_bad_feedback_is_a_one_line_error(tmp_path):
    s = _settings(tmp_path)
    for args, msg in [(("", [], ANSWER), "needs the question"), (("q?", [], "  "), "needs the question"),
                      ((None, [], ANSWER), "needs the question")]:
        with pytest.raises(InputError, match=msg):
            record_feedback(s, *args, [CITE], "extractive", "up")
    with pytest.raises(InputError, match="rating must be up or down"):
        record_feedback(s, "q?", [], ANSWER, [CITE], "extractive", "meh")
    assert not feedback_path(s).exists()


def _writer(index_dir: str, n: int, tag: str) -> None:
    s = Settings(index_dir=index_dir)
    for i in range(n):
        record_feedback(s, f"question {tag}-{i}?", [], ANSWER + " " + "x" * 5000, [CITE], "extractive", "up")


@pytest.mark.unit
def test_concurrent_writers_never_interleave_lines(tmp_path):
    s = _settings(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(s.index_dir), 25, f"p{i}")) for i in range(3)]
    threads = [threading.Thread(target=_writer, args=(str(s.index_dir), 25, f"t{i}")) for i in range(3)]
    for w in procs + threads:
        w.start()
    for w in procs + threads:
        w.join(120)
    assert all(p.exitcode == 0 for p in procs)
    lines = feedback_path(s).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 150 and len({json.loads(x)["question"] for x in lines}) == 150


@pytest.mark.unit
def test_latest_record_of_an_answer_wins_and_torn_lines_are_skipped(tmp_path):
    s = _settings(tmp_path)
    record_feedback(s, "q1?", [], ANSWER, [CITE], "extractive", "up")
    record_feedback(s, "q2?", [], ANSWER, [CITE], "extractive", "up")
    record_feedback(s, "q1?", [], ANSWER, [CITE], "extractive", "down", comment="on second thought")
    with open(feedback_path(s), "a", encoding="utf-8") as f:
        f.write('{"id": "torn", "quest')  # a crash mid-write elsewhere
    recs, warnings = load_feedback(feedback_path(s))
    assert [(r["question"], r["rating"]) for r in recs] == [("q2?", "up"), ("q1?", "down")]
    assert warnings == ["feedback.jsonl line 4: not a feedback record; skipped"]


@pytest.mark.unit
def test_eval_lines_for_up_down_refused_and_taken_back(tmp_path):
    s = _settings(tmp_path)
    hist = [{"role": "user", "content": "Tell me about Quenville."}, {"role": "assistant", "content": "It is a town."}]
    up = eval_line(record_feedback(s, "And its sky?", hist, ANSWER, [CITE, dict(CITE, n=2)], "extractive", "up"))
    assert up["type"] == "followup" and up["history"] == hist and up["answer"] == "The sky is green on Quenville."
    assert up["evidence"] == [CITE["quote"]] and up["sources"] == ["a.txt"] and "review" not in up
    from qa.answer import REFUSAL_TEXT

    refused = eval_line(record_feedback(s, "What is tungsten's boiling point?", [], REFUSAL_TEXT, [], "extractive",
                                        "up"))
    assert refused["type"] == "unanswerable" and "evidence" not in refused
    down = eval_line(record_feedback(s, "Who runs Quenville?", [], ANSWER, [CITE], "extractive", "down", "off topic"))
    assert down["review"] is True and down["comment"] == "off topic" and down["rejected_answer"] == ANSWER
    assert "evidence" not in down and down["type"] == "other"
    record_feedback(s, "Withdrawn?", [], ANSWER, [CITE], "extractive", "none")

    out = tmp_path / "export.jsonl"
    counts, warnings = export_evalset(feedback_path(s), out)
    assert counts == {"up": 2, "down": 1, "lines": 3} and warnings == []
    items, load_warnings = load_evalset(out)  # what `docqa eval` reads: every line loads, extra fields ignored
    assert load_warnings == [] and [i.type for i in items] == ["followup", "unanswerable", "other"]
    assert items[0].evidence == (CITE["quote"],) and items[0].history == tuple(hist)


@pytest.mark.unit
def test_export_cli_without_feedback_is_a_one_line_error(tmp_path, capsys):
    from docqa import main as cli

    cfg = tmp_path / "docqa.toml"
    cfg.write_text(f'index_dir = "{tmp_path / "index"}"\n')
    assert cli(["--config", str(cfg), "feedback", "export", "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no feedback yet") and len(err.splitlines()) == 1
    record_feedback(Settings(index_dir=tmp_path / "index"), "q?", [], ANSWER, [CITE], "extractive", "none")
    assert cli(["--config", str(cfg), "feedback", "export", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "no thumbs-up or thumbs-down yet" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()
