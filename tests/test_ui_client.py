"""The chat UI's API, driven by gradio_client against a server started on a free loopback port.

The server runs the real app (real Chroma, real embedding model, real qa.answer)
on a private copy of the seed index, so uploads and deletions touch nothing shared.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, serve_ui

ROOT = Path(__file__).resolve().parent.parent
UNIQUE_FACT = ("The Zorblat Institute in Quenville was founded in 1987 by the marine biologist Ilse Varnhagen. "
               "It studies glowing jellyfish in cold northern lakes.")
UNIQUE_Q = "Who founded the Zorblat Institute?"
FOLLOW_UP = "Why did it rule that way?"  # "it" only makes sense after the first question


@pytest.fixture(scope="module")
def server(seed_settings, embedder, tmp_path_factory):
    """(settings, url) of the UI serving a writable copy of the seed index; closed after the module."""
    # An LLM endpoint where nothing listens: the "LLM unreachable" path, for real.
    app, settings, url = serve_ui(seed_settings, embedder, tmp_path_factory.mktemp("ui_client"), llm_provider="openai",
                                  llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_timeout=5.0)
    yield settings, url
    app.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server[1], verbose=False)


def cited_numbers(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


@pytest.mark.integration
def test_every_action_is_an_endpoint(client):
    api = client.view_api(return_format="dict", print_info=False)
    names = set(api["named_endpoints"])
    assert {"/ask", "/chat", "/feedback", "/documents", "/upload", "/ingest", "/delete"} <= names


@pytest.mark.integration
def test_ask_answers_with_citations(client):
    r = client.predict("What did the Hangzhou court rule?", [], "extractive", 0, api_name="/ask")
    assert r["refused"] is False and r["mode"] == "extractive"
    assert r["citations"], r
    assert cited_numbers(r["answer"]) and cited_numbers(r["answer"]) <= {c["n"] for c in r["citations"]}
    assert any("Hangzhou" in c["quote"] for c in r["citations"])


@pytest.mark.integration
def test_follow_up_uses_history(client):
    first = client.predict("What did the Hangzhou court rule?", [], "extractive", 0, api_name="/ask")
    history = [{"role": "user", "content": first["question"]}, {"role": "assistant", "content": first["answer"]}]
    r = client.predict(FOLLOW_UP, history, "extractive", 0, api_name="/ask")
    assert r["refused"] is False, r
    # "it" resolves to the court, and the follow-up adds the court's reasoning instead of repeating turn one.
    assert any("court" in c["quote"].lower() for c in r["citations"]), r["citations"]
    assert r["answer"] != first["answer"]


@pytest.mark.integration
def test_unanswerable_question_is_refused(client):
    r = client.predict("What is the boiling point of tungsten in kelvin?", [], "extractive", 0, api_name="/ask")
    assert r["refused"] is True
    assert r["citations"] == []


@pytest.mark.integration
def test_chat_endpoint_streams_and_keeps_history(client):
    job = client.submit("What did the Hangzhou court rule?", [], "extractive", 5, api_name="/chat")
    chat, sources, box = job.result(timeout=120)
    assert len(job.outputs()) > 2  # a placeholder, then the answer in several steps
    assert box == ""
    answer = chat[-1]["content"] if isinstance(chat[-1]["content"], str) else chat[-1]["content"][0]["text"]
    assert 'href="#docqa-cite-0-1"' in answer and "mode: extractive" in answer
    assert "<mark>" in sources and "Hangzhou" in sources
    # A follow-up sent with the chat's own history (links, meta line and all) is understood.
    chat2, sources2, _ = client.predict(FOLLOW_UP, chat, "extractive", 5, api_name="/chat")
    assert len(chat2) == 4
    last = chat2[-1]["content"] if isinstance(chat2[-1]["content"], str) else chat2[-1]["content"][0]["text"]
    assert "docqa-cite" in last and "docqa-error" not in last
    assert "Hangzhou" in sources2


@pytest.mark.integration
def test_errors_are_chat_messages_not_tracebacks(client):
    chat, _, _ = client.predict("   ", [], "extractive", 5, api_name="/chat")
    text = str(chat[-1]["content"])
    assert "docqa-error" in text and "⚠️" in text
    assert "Traceback" not in text and 'File "' not in text


@pytest.mark.integration
def test_ask_api_errors_carry_the_message(client):
    with pytest.raises(Exception) as err:
        client.predict("   ", [], "extractive", 0, api_name="/ask")
    assert "question" in str(err.value).lower() and "Traceback" not in str(err.value)


@pytest.mark.integration
def test_llm_unreachable_is_a_clear_message(client):
    chat, _, _ = client.predict("What did the Hangzhou court rule?", [], "llm", 5, api_name="/chat")
    text = str(chat[-1]["content"])
    assert "Traceback" not in text and 'File "' not in text
    # Either a one-line error in the chat, or an extractive fallback that says why.
    assert ("docqa-error" in text or "mode: extractive" in text) and "LLM" in text, text


@pytest.mark.integration
def test_feedback_endpoint_then_export_then_eval(server, client, tmp_path):
    """/feedback through gradio_client, then `docqa feedback export`, then `docqa eval` on the export."""
    import json

    settings, _ = server
    store = Path(settings.index_dir) / "feedback.jsonl"
    before = store.read_text(encoding="utf-8").count("\n") if store.exists() else 0

    def rate(question, history, rating, comment=""):
        a = client.predict(question, history, "extractive", 0, api_name="/ask")
        return a, client.predict(a["question"], history, a["answer"], a["citations"], a["mode"], rating, comment,
                                 api_name="/feedback")

    first, rec = rate("What did the Hangzhou court rule?", [], "up")
    assert rec["rating"] == "up" and rec["citations"] and len(rec["settings"]) == 16 and rec["time"] > 0
    history = [{"role": "user", "content": first["question"]}, {"role": "assistant", "content": first["answer"]}]
    rate(FOLLOW_UP, history, "up")
    refused, _ = rate("What is the boiling point of tungsten in kelvin?", [], "up")  # agreeing with a refusal
    assert refused["refused"]
    rate("Which ministry is preparing a dedicated policy document on AI?", [], "down", "should name the ministry")
    with pytest.raises(Exception, match="rating must be up or down"):
        client.predict("q?", [], "a", [], "extractive", "meh", "", api_name="/feedback")
    lines = store.read_text(encoding="utf-8").splitlines()[before:]
    assert len(lines) == 4 and all(json.loads(x)["mode"] == "extractive" for x in lines)

    env = {**os.environ, "DOCQA_INDEX_DIR": str(settings.index_dir), "DOCQA_CORPUS_DIR": str(settings.corpus_dir)}
    out = tmp_path / "feedback_qa.jsonl"
    r = subprocess.run([sys.executable, "-m", "docqa", "feedback", "export", "--out", str(out)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "3 thumbs-up as eval questions, 1 thumbs-down flagged for review" in r.stdout
    rows = {x["question"]: x for x in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    up = rows["What did the Hangzhou court rule?"]
    assert up["evidence"] == [c["quote"] for c in first["citations"]] and up["sources"] == ["001_d5c15e6c1eacf066.txt"]
    assert "[1]" not in up["answer"] and up["answer"] in first["answer"].replace(" [1]", "")
    assert rows[FOLLOW_UP]["type"] == "followup" and rows[FOLLOW_UP]["history"] == history
    assert rows["What is the boiling point of tungsten in kelvin?"]["type"] == "unanswerable"
    down = rows["Which ministry is preparing a dedicated policy document on AI?"]
    assert down["review"] is True and down["comment"] == "should name the ministry" and "evidence" not in down

    r = subprocess.run([sys.executable, "-m", "docqa", "eval", str(out), "--quiet", "--out", str(tmp_path / "report"),
                        "--fail-under", "hit@k=1", "--fail-under", "citation_precision=1",
                        "--fail-under", "refusal_rate=1"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["overall"]["n"] == 4 and report["meta"]["warnings"] == []


@pytest.mark.integration
def test_upload_reindex_ask_delete(server, client, tmp_path):
    from gradio_client import handle_file

    settings, _ = server
    src = tmp_path / "zorblat notes.txt"
    src.write_text(UNIQUE_FACT, encoding="utf-8")
    line, table, _ = client.predict([handle_file(str(src))], api_name="/upload")[:3]
    assert "saved zorblat notes.txt" in line and "1 added" in line, line
    assert (Path(settings.corpus_dir) / "zorblat notes.txt").read_text(encoding="utf-8") == UNIQUE_FACT
    files = [row[1] for row in client.predict(api_name="/documents")]
    assert "zorblat notes.txt" in files

    r = client.predict(UNIQUE_Q, [], "extractive", 0, api_name="/ask")
    assert r["refused"] is False
    assert any(c["source"] == "zorblat notes.txt" and "Ilse Varnhagen" in c["quote"] for c in r["citations"])

    line = client.predict(api_name="/ingest")[0]
    assert "0 added" in line and "nothing to embed" in line, line

    line = client.predict("zorblat notes.txt", api_name="/delete")[0]
    assert line.startswith("deleted zorblat notes.txt") and "1 removed" in line, line
    assert not (Path(settings.corpus_dir) / "zorblat notes.txt").exists()
    assert any(p.name.endswith("zorblat notes.txt") for p in (Path(settings.corpus_dir) / ".trash").iterdir())
    assert "zorblat notes.txt" not in [row[1] for row in client.predict(api_name="/documents")]
    r = client.predict(UNIQUE_Q, [], "extractive", 0, api_name="/ask")
    assert r["refused"] is True
    assert not any(c["source"] == "zorblat notes.txt" for c in r["citations"] + r["related"])


@pytest.mark.integration
def test_bad_upload_and_bad_delete_give_one_line_errors(server, client, tmp_path):
    settings, _ = server
    before = sorted(p.name for p in Path(settings.corpus_dir).iterdir())
    bad = tmp_path / "tool.exe"
    bad.write_bytes(b"MZ\x90\x00")
    with pytest.raises(Exception, match="Invalid file type"):  # Gradio's own check runs first
        client.predict([handle_file_(bad)], api_name="/upload")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    line = client.predict([handle_file_(empty)], api_name="/upload")[0]
    assert line.startswith("⚠️") and "empty.txt is empty" in line and "\n" not in line
    line = client.predict("../../etc/passwd", api_name="/delete")[0]
    assert line.startswith("⚠️") and "no indexed document" in line
    assert sorted(p.name for p in Path(settings.corpus_dir).iterdir()) == before


def handle_file_(path):
    from gradio_client import handle_file

    return handle_file(str(path))


@pytest.mark.unit
def test_non_loopback_bind_needs_auth(tmp_path):
    """`docqa serve --host 0.0.0.0` without --auth refuses, before loading anything."""
    env = {**os.environ, "DOCQA_INDEX_DIR": str(tmp_path / "index"), "DOCQA_CORPUS_DIR": str(tmp_path)}
    p = subprocess.run([sys.executable, "-m", "docqa", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "--auth user:pass" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.unit
def test_auth_format_is_checked():
    import ui
    from core.errors import ConfigError
    from core.settings import Settings

    with pytest.raises(ConfigError, match="user:pass"):
        ui.launch(None, Settings(), host="0.0.0.0", auth="nopassword")
    with pytest.raises(ConfigError, match="--auth"):
        ui.main(Settings(), host="192.168.1.10")


@pytest.mark.unit
def test_document_text_is_escaped_everywhere():
    """Documents are untrusted: markup in them is shown as text, never run."""
    import chat_view as view

    evil = '<img src=x onerror="alert(1)"> [click](javascript:alert(2)) <script>alert(3)</script>'
    cit = {"n": 1, "source": "<b>x</b>.txt", "title": "<script>t()</script>", "quote": evil,
           "start": 10, "end": 10 + len(evil), "context": "before " * 1 + "abc" + evil + " after",
           "context_start": 0}
    cit["start"] = cit["context"].index(evil)
    rec = {"question": "<i>q</i>", "text": evil + " [1]", "refused": False, "mode": "extractive", "note": "",
           "k": 5, "ms": 3, "citations": [cit], "related": []}
    panel = view.sources_html(rec, focus=1)
    assert "<script" not in panel and "<img" not in panel and "<b>x" not in panel and "<i>q" not in panel
    assert "<mark>&lt;img src=x" in panel
    *_, final = view.answer_steps(rec, turn=0)
    assert "<script" not in final and "<img" not in final and "](javascript" not in final
    assert '<a href="#docqa-cite-0-1"' in final
    # The chat's own markup is stripped again before the history goes back to qa.answer.
    history = view.plain_history([{"role": "user", "content": "hi"}, {"role": "assistant", "content": final}])
    assert history[1]["content"] == evil + " [1]"


@pytest.mark.unit
def test_failed_turns_are_left_out_of_history():
    import chat_view as view

    msgs = [{"role": "user", "content": [{"type": "text", "text": "first?"}]},
            {"role": "assistant", "content": view.error_markdown("no index yet: run `docqa ingest` first")},
            {"role": "user", "content": "second?"},
            {"role": "assistant", "content": "An answer. [1]\n\n<span class=\"docqa-meta\">mode: llm</span>"}]
    assert view.plain_history(msgs) == [{"role": "user", "content": "second?"},
                                        {"role": "assistant", "content": "An answer. [1]"}]


@pytest.mark.unit
def test_a_thumb_rates_the_answer_it_sits_on():
    import chat_view as view

    def rec(q, text):
        return {"question": q, "text": text, "refused": False, "mode": "extractive", "note": "", "k": 5, "ms": 3,
                "citations": [{"n": 1, "source": "a.txt", "quote": text.rstrip(" [1]")}], "related": []}

    turns = [rec("first?", "One. [1]"), rec("third?", "Three. [1]")]
    meta = '\n\n<span class="docqa-meta">mode: extractive</span>'
    msgs = [{"role": "user", "content": "first?"}, {"role": "assistant", "content": "One. [1]" + meta},
            {"role": "user", "content": "second?"}, {"role": "assistant", "content": view.error_markdown("boom")},
            {"role": "user", "content": [{"type": "text", "text": "third?"}]},
            {"role": "assistant", "content": "Three. [1]" + meta}]
    got = view.rated_answer(msgs, turns, 5)  # the error turn has no record: turns stay in step
    assert got["question"] == "third?" and got["answer"] == "Three. [1]" and got["k"] == 5
    assert got["history"] == [{"role": "user", "content": "first?"}, {"role": "assistant", "content": "One. [1]"}]
    assert view.rated_answer(msgs, turns, 1)["question"] == "first?" and view.rated_answer(msgs, turns, 1)["history"] == []
    assert view.rated_answer(msgs, turns, [5]) == got  # Gradio may send the index as a list
    for bad in (0, 3, 6, None, "x"):  # a question, an error message, out of range
        assert view.rated_answer(msgs, turns, bad) is None
    placeholder = msgs[:5] + [{"role": "assistant", "content": "*searching the documents… (mode: extractive)*"}]
    assert view.rated_answer(placeholder, turns, 5) is None


@pytest.mark.unit
def test_saved_chats_list_open_delete_and_size_cap(tmp_path, monkeypatch):
    import chat_view as view

    msgs = [{"role": "user", "content": [{"type": "text", "text": "What did the  Hangzhou court rule, and why "
                                                                   "did it matter so much to workers?"}]},
            {"role": "assistant", "content": "A ruling. [1]"}]
    saved, a = view.save_chat([], "", msgs, [{"question": "q"}])
    assert a and saved[0]["title"] == "What did the Hangzhou court rule, and why did it matter so…"
    assert saved[0]["messages"][0] == {"role": "user", "content": msgs[0]["content"][0]["text"]}
    saved, b = view.save_chat(saved, "", [{"role": "user", "content": "Second?"}], [])
    assert b != a and [c["id"] for c in saved] == [b, a] and view.chat_choices(saved)[0][0].startswith("Second? · ")
    saved, same = view.save_chat(saved, a, msgs + msgs, [])  # the open chat moves to the top, same id
    assert same == a and [c["id"] for c in saved] == [a, b] and len(saved[0]["messages"]) == 4
    assert view.save_chat(saved, "", [], []) == (saved, "")  # an empty chat is not saved
    messages, turns, cid, panel = view.chat_view_of(view.find_chat(saved, b))
    assert cid == b and messages == [{"role": "user", "content": "Second?"}] and panel == view.EMPTY_SOURCES
    assert [c["id"] for c in view.delete_chat(saved, a)] == [b] and view.chat_view_of(None)[2] == ""
    monkeypatch.setattr(view, "MAX_SAVED_CHARS", 600)  # the oldest go first; the current chat always stays
    big = [{"role": "user", "content": "x" * 400}]
    saved, c = view.save_chat(saved, "", big, [])
    assert [x["id"] for x in saved] == [c]


@pytest.mark.unit
def test_browser_secret_is_kept_in_the_index_folder(tmp_path):
    import chat_view as view
    from core.settings import Settings

    s = Settings(index_dir=tmp_path / "index")
    key = view.browser_secret(s)
    assert len(key) >= 24 and view.browser_secret(s) == key  # a restarted server reads the same key
    assert (tmp_path / "index" / view.SECRET_FILE).stat().st_mode & 0o077 == 0
    assert view.browser_secret(Settings(index_dir=tmp_path / "other")) != key
