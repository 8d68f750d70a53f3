"""Eval-set loading (bad lines, unknown fields/types, empty files) and the SQuAD importer."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import InputError
from ingest.pipeline import prepare_document
from eval.evalset import load_evalset, squad_to_corpus

pytestmark = pytest.mark.unit
DATA = Path(__file__).parent / "data"


def _write(tmp_path, lines) -> Path:
    p = tmp_path / "set.jsonl"
    p.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return p


def test_malformed_lines_are_reported_with_line_numbers_and_skipped(tmp_path):
    p = _write(tmp_path, [
        {"id": "ok1", "question": "Which court?", "type": "factoid", "evidence": ["x"], "extra": {"any": 1}},
        '{"id": "broken", "question": ',  # line 2: not JSON
        "",  # blank lines are fine
        {"id": "noq"},  # line 4: no question
        {"id": "badfacts", "question": "q?", "key_facts": [1, 2]},  # line 5: wrong type
        {"id": "ok1", "question": "dup?"},  # line 6: duplicate id
        '["a", "list"]',  # line 7: not an object
        {"id": 7, "question": "Numeric id?", "type": "riddle"},  # line 8: unknown type -> other
        {"id": "badhist", "question": "q?", "history": [{"role": "bot", "content": "x"}]},  # line 9
    ])
    items, warnings = load_evalset(p)
    assert [i.id for i in items] == ["ok1", "7"]
    assert items[0].evidence == ("x",) and items[0].line == 1
    assert items[1].type == "other"
    text = "\n".join(warnings)
    for n in (2, 4, 5, 6, 7, 8, 9):
        assert f"line {n}:" in text, text
    assert "not valid JSON" in text and "unknown type 'riddle'" in text and "duplicate id" in text


def test_optional_fields_default_and_history_kept(tmp_path):
    p = _write(tmp_path, [{"id": "f", "question": "  And then?  ", "history": [
        {"role": "user", "content": "Who?"}, {"role": "assistant", "content": "Them."}]}])
    (item,), warnings = load_evalset(p)
    assert warnings == []
    assert item.question == "And then?" and item.type == "other" and item.answer is None
    assert item.key_facts == () and item.sources == () and item.evidence == ()
    assert [h["role"] for h in item.history] == ["user", "assistant"]


def test_unanswerable_rule():
    from eval.evalset import EvalItem

    assert EvalItem("1", "q", type="unanswerable").unanswerable
    assert EvalItem("2", "q", type="adversarial").unanswerable  # false premise, nothing to find
    assert not EvalItem("3", "q", type="adversarial", key_facts=("Hangzhou",)).unanswerable  # premise corrected
    assert not EvalItem("4", "q", type="factoid").unanswerable


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file_is_one_clear_error(tmp_path, content):
    p = tmp_path / "empty.jsonl"
    p.write_text(content)
    with pytest.raises(InputError, match="is empty") as e:
        load_evalset(p)
    assert "\n" not in str(e.value)


def test_only_bad_lines_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="no valid question"):
        load_evalset(_write(tmp_path, ["nope", "{}"]))
    with pytest.raises(InputError, match="not found"):
        load_evalset(tmp_path / "missing.jsonl")


def test_squad_import(tmp_path):
    corpus = tmp_path / "corpus"
    items, warnings = squad_to_corpus(DATA / "squad_tiny.json", corpus)
    assert warnings == []
    by_id = {i.id: i for i in items}
    assert set(by_id) == {"t1", "t2", "t3", "h1", "h2", "h3", "h4"}
    assert sorted(p.name for p in corpus.iterdir()) == ["0001.txt", "0002.txt", "0003.txt"]
    assert by_id["t3"].type == "unanswerable" and by_id["t3"].unanswerable
    assert not by_id["t3"].evidence and not by_id["t3"].sources
    t1 = by_id["t1"]
    assert (t1.type, t1.answer, t1.sources) == ("factoid", "254 megawatts", ("0001.txt",))
    assert t1.evidence == ("The Sihwa Lake station in South Korea, opened in 2011, has a capacity of 254 megawatts.",)
    # t2's answer_start is off by one and h4 has none: the answer is located in the context instead.
    assert by_id["t2"].evidence == t1.evidence
    assert by_id["h4"].evidence == ("Smoke calms the bees during the harvest.",) and by_id["h4"].sources == ("0003.txt",)
    # Evidence must survive cleaning: it is a substring of the cleaned text of its source.
    for item in items:
        for e in item.evidence:
            doc = prepare_document(corpus / item.sources[0], corpus)
            assert e in doc.text, (item.id, e)
    assert prepare_document(corpus / "0001.txt", corpus).title == "Tidal power"


def test_squad_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="cannot read SQuAD file"):
        squad_to_corpus(bad, tmp_path / "c")
    bad.write_text('{"version": 1}')
    with pytest.raises(InputError, match='no "data" list'):
        squad_to_corpus(bad, tmp_path / "c")
