"""The chat UI in a real browser: Playwright driving Debian's headless Chromium.

Prints the page load time (navigation until the question box is usable) and
the time to the first answer; saves a screenshot of the answer view (into docs/ with DOCQA_UPDATE_SCREENSHOT=1).
The page must not request anything but the local server (the browser runs
with background networking off, and every request is recorded).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from conftest import serve_ui

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
QUESTION = "What did the Hangzhou court rule?"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium: `make browser-deps`"),
]


@pytest.fixture(scope="module")
def server(seed_settings, embedder, tmp_path_factory):
    """(settings, url) of the UI serving a writable copy of the seed index."""
    app, settings, url = serve_ui(seed_settings, embedder, tmp_path_factory.mktemp("ui_browser"))
    yield settings, url
    app.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    """A fresh page on the UI, with every non-local request recorded in ``page.foreign``."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    pg.foreign = []
    local = server[1].rstrip("/")
    pg.on("request", lambda r: None if r.url.startswith((local, "data:", "blob:")) else pg.foreign.append(r.url))
    t0 = time.perf_counter()
    pg.goto(server[1])
    pg.wait_for_selector("#docqa-question textarea:not([disabled])", timeout=60000)
    pg.load_seconds = time.perf_counter() - t0
    yield pg
    ctx.close()


def ask(pg, question: str) -> float:
    """Type a question, press Enter; returns seconds until the finished answer (its meta line) shows."""
    n = pg.locator("#docqa-chat .docqa-meta, #docqa-chat .docqa-error").count()
    pg.fill("#docqa-question textarea", question)
    t0 = time.perf_counter()
    pg.press("#docqa-question textarea", "Enter")
    pg.wait_for_function(
        "n => document.querySelectorAll('#docqa-chat .docqa-meta, #docqa-chat .docqa-error').length > n",
        arg=n, timeout=120000)
    return time.perf_counter() - t0


def test_page_loads_offline_with_examples(page):
    print(f"\npage load (navigation -> question box usable): {page.load_seconds:.2f} s")
    examples = page.locator("#docqa-chat button", has_text="What d")
    assert examples.count() >= 2  # example questions drawn from the corpus, on first load
    page.wait_for_timeout(2000)  # Gradio holds a heartbeat stream open, so "networkidle" never comes
    assert page.foreign == [], f"the page fetched from outside: {page.foreign}"


def test_ask_click_citation_shows_highlighted_passage(page):
    page.fill("#docqa-question textarea", QUESTION)
    t0 = time.perf_counter()
    page.press("#docqa-question textarea", "Enter")
    first = page.locator("#docqa-chat a.docqa-cite").first
    first.wait_for(timeout=120000)
    t_first = time.perf_counter() - t0
    page.locator("#docqa-chat .docqa-meta").first.wait_for(timeout=120000)
    t_done = time.perf_counter() - t0
    print(f"\ntime to first answer: first cited words {t_first:.2f} s, complete {t_done:.2f} s")
    meta = page.inner_text("#docqa-chat .docqa-meta")
    assert "mode: extractive" in meta  # the current mode is shown with every answer

    markers = page.locator("#docqa-chat a.docqa-cite")
    assert markers.count() >= 1
    last = markers.nth(markers.count() - 1)
    n = int(last.inner_text().strip("[]"))
    last.click()
    focus = page.locator(f"#docqa-sources .docqa-focus#docqa-src-{n}")
    focus.wait_for(timeout=30000)
    quote = focus.locator("mark").inner_text().strip()
    assert quote and quote in page.inner_text("#docqa-chat")  # the highlighted sentence is the cited one
    assert focus.locator(".docqa-file").inner_text().endswith(".txt")
    # Clicking another marker moves the focus.
    if n != 1:
        page.locator("#docqa-chat a.docqa-cite", has_text="[1]").first.click()
        page.locator("#docqa-sources .docqa-focus#docqa-src-1").wait_for(timeout=30000)
    # The README's picture is refreshed on demand, so a test run leaves the checkout clean.
    shots = ROOT / "docs" if os.environ.get("DOCQA_UPDATE_SCREENSHOT") else Path(tempfile.gettempdir())
    page.screenshot(path=str(shots / "screenshot.png"))
    assert page.foreign == []


def test_empty_question_shows_a_message(page):
    ask(page, "   ")
    text = page.inner_text("#docqa-chat .docqa-error")
    assert "⚠️" in text and "Traceback" not in text


def test_upload_a_file_then_ask_about_it(page, tmp_path):
    src = tmp_path / "quenville.md"
    src.write_text("# Quenville lighthouse\n\nThe Quenville lighthouse keeper, Marta Oyelaran, repainted the "
                   "tower cobalt blue in 2011 after a storm stripped its paint.\n", encoding="utf-8")
    page.get_by_role("tab", name="Documents").click()
    page.set_input_files("#docqa-upload input[type=file]", str(src))
    page.click("#docqa-add")
    page.wait_for_function(
        "() => (document.querySelector('#docqa-result textarea') || {}).value?.includes('added')", timeout=180000)
    assert "saved quenville.md" in page.input_value("#docqa-result textarea")
    page.locator("#docqa-docs", has_text="quenville.md").wait_for(timeout=30000)

    page.get_by_role("tab", name="Chat").click()
    ask(page, "What colour did the lighthouse keeper paint the tower?")
    page.locator("#docqa-chat a.docqa-cite", has_text="[1]").last.click()  # [1]: the best-supported sentence
    focus = page.locator("#docqa-sources .docqa-focus")
    focus.wait_for(timeout=30000)
    assert "quenville.md" in focus.inner_text()
    assert "cobalt blue" in focus.locator("mark").inner_text()


def _wait_saved(page, title: str):
    page.locator("#docqa-chats label", has_text=title).first.wait_for(timeout=30000)


def _reload(page):
    page.reload()
    page.wait_for_selector("#docqa-question textarea:not([disabled])", timeout=60000)


def test_saved_chat_survives_reload_and_can_be_deleted(page):
    ask(page, QUESTION)
    _wait_saved(page, QUESTION)
    answer = page.inner_text("#docqa-chat .docqa-meta")
    _reload(page)
    # The chat is back, answer and all, listed under Saved chats, and its [n] markers still work.
    page.locator("#docqa-chat .docqa-meta").first.wait_for(timeout=30000)
    assert page.locator("#docqa-chat a.docqa-cite").count() >= 1 and QUESTION in page.inner_text("#docqa-chat")
    assert page.locator("#docqa-chats label", has_text=QUESTION).count() == 1
    page.locator("#docqa-chat a.docqa-cite").first.click()
    page.locator("#docqa-sources .docqa-focus").wait_for(timeout=30000)
    assert answer

    # A second chat: both are listed; the first reopens from the list.
    page.click("#docqa-new-chat")
    page.wait_for_function("() => !document.querySelector('#docqa-chat .docqa-meta')", timeout=30000)
    second = "What is the Hangzhou ruling about?"
    ask(page, second)
    _wait_saved(page, second)
    assert page.locator("#docqa-chats label").count() == 2
    page.locator("#docqa-chats label", has_text=QUESTION).click()
    page.wait_for_function("q => document.querySelector('#docqa-chat').innerText.includes(q)", arg=QUESTION,
                           timeout=30000)
    assert second not in page.inner_text("#docqa-chat")

    # Delete the open chat: gone from the list, and still gone after a reload.
    page.click("#docqa-chat-delete")
    page.wait_for_function("() => document.querySelectorAll('#docqa-chats label').length === 1", timeout=30000)
    _reload(page)
    page.locator("#docqa-chats label", has_text=second).wait_for(timeout=30000)
    assert page.locator("#docqa-chats label", has_text=QUESTION).count() == 0
    assert QUESTION not in page.inner_text("#docqa-chat")


def _feedback(settings) -> list[dict]:
    import json

    path = Path(settings.index_dir) / "feedback.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_thumbs_and_comment_are_stored(page, server):
    settings = server[0]
    before = len(_feedback(settings))
    question = "Which ministry is preparing a policy document on AI and employment?"
    ask(page, question)
    page.locator("#docqa-chat button[aria-label='Like']").last.click()
    page.locator("#docqa-fb-note", has_text="Thumbs up saved").wait_for(timeout=30000)
    recs = _feedback(settings)[before:]
    assert len(recs) == 1 and recs[0]["rating"] == "up" and recs[0]["question"] == question
    assert recs[0]["citations"] and recs[0]["answer"].endswith("]") and recs[0]["settings"]

    page.fill("#docqa-fb-comment textarea", "exactly what I needed")
    page.click("#docqa-fb-send")
    page.locator("#docqa-fb-note", has_text="with your comment").wait_for(timeout=30000)
    page.locator("#docqa-chat button[aria-label='Dislike']").last.click()
    page.locator("#docqa-fb-note", has_text="Thumbs down saved").wait_for(timeout=30000)
    recs = _feedback(settings)[before:]
    assert [r["rating"] for r in recs] == ["up", "up", "down"] and recs[1]["comment"] == "exactly what I needed"
    assert len({r["id"] for r in recs}) == 1  # one answer: the newest record supersedes the older ones


def test_saved_chat_survives_a_server_restart(browser, seed_settings, embedder, tmp_path):
    """Chats live in the browser, under a key kept in index_dir: a restarted server still opens them."""
    import ui

    app, settings, url = serve_ui(seed_settings, embedder, tmp_path)
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        pg = ctx.new_page()
        pg.goto(url)
        pg.wait_for_selector("#docqa-question textarea:not([disabled])", timeout=60000)
        ask(pg, QUESTION)
        _wait_saved(pg, QUESTION)
        app.close()
        app = ui.create_app(settings, embedder=embedder)  # a new process would read the same index_dir
        ui.launch(app, settings, port=port, block=False)
        _reload(pg)
        pg.locator("#docqa-chat .docqa-meta").first.wait_for(timeout=30000)
        assert pg.locator("#docqa-chats label", has_text=QUESTION).count() == 1
    finally:
        ctx.close()
        app.close()


def test_documents_tab_follows_watch_mode(browser, seed_settings, embedder, tmp_path):
    """`docqa serve --watch`: a file dropped into the corpus folder appears in the open Documents tab."""
    import shutil

    import ui
    from conftest import free_port

    shutil.copytree(seed_settings.corpus_dir, tmp_path / "corpus")
    shutil.copytree(seed_settings.index_dir, tmp_path / "index")
    settings = seed_settings.replace(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    app = ui.create_app(settings, embedder=embedder, watch=True)
    port = free_port()
    ui.launch(app, settings, port=port, block=False)
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        pg = ctx.new_page()
        pg.goto(f"http://127.0.0.1:{port}/")
        pg.wait_for_selector("#docqa-question textarea:not([disabled])", timeout=60000)
        pg.get_by_role("tab", name="Documents").click()
        pg.locator("#docqa-docs", has_text="001_d5c15e6c1eacf066.txt").wait_for(timeout=30000)
        (tmp_path / "corpus" / "lighthouse.md").write_text(
            "# Quenville lighthouse\n\nThe keeper repainted the tower cobalt blue in 2011.\n", encoding="utf-8")
        pg.locator("#docqa-docs", has_text="lighthouse.md").wait_for(timeout=90000)
        assert "1 added" in pg.input_value("#docqa-result textarea")
        (tmp_path / "corpus" / "lighthouse.md").unlink()
        pg.wait_for_function("() => !document.querySelector('#docqa-docs').innerText.includes('lighthouse.md')",
                             timeout=90000)
    finally:
        ctx.close()
        app.close()
        app.docqa_watcher.stop()
