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
