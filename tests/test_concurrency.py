"""Concurrency: queries while a re-index runs, and 16 clients at once through the Gradio API."""
from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest

pytestmark = pytest.mark.integration

QUESTIONS = [
    "How many university graduates entered China's job market in 2026?",
    "Which court ruled that firms cannot lay off employees just because an AI system can do the job cheaper?",
    "What term is President Xi Jinping promoting to signal China's pivot toward high technology?",
    "Which policy's legacy created China's demographic imbalance?",
    "What does China invest heavily in to reskill workers who are vulnerable to automation?",
    "Which tech giants partner with local governments in Guangdong and Jiangsu to train factory workers?",
    "What are local authorities in Zhejiang experimenting with to cushion AI automation?",
    "How many robotaxis does each remote safety operator monitor?",
]


def _texts(settings, embedder) -> dict[str, str]:
    from ingest.store import open_store

    store = open_store(settings, embedder.name, embedder.dim)
    return {r.source: store.document_text(r.doc_id) for r in store.records().values()}


def test_queries_during_reindex_see_old_or_new_never_half(make_settings, embedder):
    from ingest.pipeline import run_ingest
    from qa.answer import answer

    s = make_settings()
    run_ingest(s, progress=False, embedder=embedder)
    versions = [_texts(s, embedder)]
    target = next(p for p in sorted(s.corpus_dir.iterdir()) if p.name.startswith("001_"))
    original = target.read_bytes()
    stop, errors, answers = threading.Event(), [], []

    def ask_loop():
        i = 0
        while not stop.is_set():
            q = QUESTIONS[i % 2]  # both answered from 001_, the document being rewritten
            i += 1
            try:
                answers.append((q, answer(q, settings=s, embedder=embedder)))
            except Exception:  # any error while the index changes is a failure
                import traceback
                errors.append(traceback.format_exc())

    threads = [threading.Thread(target=ask_loop) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for round_ in range(3):  # change the document, re-index; then put it back
            target.write_bytes(original + f"\n\nA new closing paragraph number {round_} about retraining "
                                          "graduates for AI jobs.\n".encode())
            run_ingest(s, progress=False, embedder=embedder)
            versions.append(_texts(s, embedder))
            target.write_bytes(original)
            run_ingest(s, progress=False, embedder=embedder)
            versions.append(_texts(s, embedder))
        (s.corpus_dir / "new_doc.txt").write_text("Graduates in 2026 face a tight job market, officials said.")
        run_ingest(s, progress=False, embedder=embedder)
        versions.append(_texts(s, embedder))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert not errors, errors[:3]
    assert len(answers) >= 4
    for q, ans in answers:
        assert not ans.refused, (q, ans.note)
        for c in ans.citations:  # every quote is exact in some complete version of its document
            assert any(v.get(c.source, "")[c.start:c.end] == c.quote for v in versions), (q, c)


def _free_port() -> int:
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def test_sixteen_concurrent_clients_get_their_own_answers(seed_settings, embedder, tmp_path):
    import ui
    from gradio_client import Client

    from qa.answer import answer

    shutil.copytree(seed_settings.corpus_dir, tmp_path / "corpus")
    shutil.copytree(seed_settings.index_dir, tmp_path / "index")
    settings = seed_settings.replace(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    expected = {q: answer(q, settings=settings, embedder=embedder) for q in QUESTIONS}
    app = ui.create_app(settings, embedder=embedder)
    port = _free_port()
    ui.launch(app, settings, port=port, block=False)
    url = f"http://127.0.0.1:{port}/"
    n_clients, per_client, deadline = 16, 3, time.monotonic() + 240
    results, errors = [], []

    def client_loop(i):
        try:
            c = Client(url, verbose=False)
            for j in range(per_client):
                if time.monotonic() > deadline:
                    return
                q = QUESTIONS[(i + j) % len(QUESTIONS)]
                t0 = time.perf_counter()
                r = c.predict(q, [], "extractive", 0, api_name="/ask")
                results.append((q, r, time.perf_counter() - t0))
        except Exception as e:
            errors.append(f"client {i}: {e!r}")

    try:
        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(n_clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        wall = time.perf_counter() - t0
    finally:
        app.close()
    assert not errors, errors[:3]
    assert len(results) == n_clients * per_client
    for q, r, _ in results:  # each answer belongs to its question: same text as asked alone
        assert r["question"] == q
        assert r["answer"] == expected[q].text and r["refused"] == expected[q].refused
    lat = sorted(x[2] for x in results)
    print(f"\n16 clients x {per_client}: {len(results)} answers in {wall:.1f} s "
          f"({len(results) / wall:.1f} req/s), p50 {lat[len(lat) // 2]:.2f} s, max {lat[-1]:.2f} s")
