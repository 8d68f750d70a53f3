"""Watch mode: `docqa ingest --watch` re-indexes the corpus folder when files are added, changed or removed.

The integration test runs the real command as a subprocess over a copy of the seed corpus and
index, edits the folder, and checks each change through `docqa status` / `docqa ask --json`
(fresh processes, as a user would). It prints the latency from saving a changed seed file to
the new sentence being answerable.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

WAIT = 90  # seconds allowed for each change to show (the target is < 10 s; the machine is shared)
ADDED = ("The Quenville Tidal Observatory was opened in 1962 by the oceanographer Miriam Okonjo. "
         "It records the height of the spring tides in the Quenville estuary.\n")
CHANGED = "\n\nIn 2027 the Lanzhou pilot programme retrained 4,812 welders as drone inspectors.\n"


@pytest.mark.unit
def test_snapshot_sees_supported_files_only(tmp_path):
    from ingest.watch import _describe, snapshot

    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.exe").write_bytes(b"MZ")
    (tmp_path / ".hidden.txt").write_text("h")
    (tmp_path / ".trash").mkdir()
    (tmp_path / ".trash" / "old.txt").write_text("old")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.md").write_text("c")
    first = snapshot([tmp_path])
    assert sorted(Path(p).name for p in first) == ["a.txt", "c.md"]
    (tmp_path / "a.txt").write_text("a, longer")
    (tmp_path / "sub" / "c.md").unlink()
    (tmp_path / "d.html").write_text("<p>d</p>")
    assert _describe(first, snapshot([tmp_path])) == "seen 1 added (d.html); 1 changed (a.txt); 1 removed (c.md)"


@pytest.mark.unit
def test_a_burst_of_changes_is_indexed_once_after_it_settles(tmp_path):
    from core.settings import Settings
    from ingest.watch import Watcher

    runs = []
    w = Watcher(Settings(corpus_dir=tmp_path, index_dir=tmp_path / "index"), reindex=lambda: runs.append(1) or "ok",
                interval=0.05, debounce=0.5, log=lambda m: None, embedder=_NoModel())
    w.start(initial=False)
    try:
        time.sleep(0.2)
        for i in range(6):  # one file every 0.1 s: the quiet period never elapses in between
            (tmp_path / f"f{i}.txt").write_text(str(i))
            time.sleep(0.1)
        deadline = time.monotonic() + 10
        while not runs and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        assert len(runs) == 1 and w.generation == 1 and "files changed: ok" in w.last
    finally:
        w.stop()
    assert not w._thread.is_alive()


class _NoModel:
    """The watcher warms its embedding model up; this unit test indexes nothing."""

    def encode(self, texts):
        return None


class _Lines:
    """A subprocess's output lines, read in a thread so the test never blocks on the pipe."""

    def __init__(self, proc):
        self.q: queue.Queue = queue.Queue()
        self.all: list[str] = []
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, f):
        for line in f:
            self.q.put((time.perf_counter(), line.rstrip("\n")))

    def wait_for(self, text: str, timeout: float) -> tuple[float, str]:
        """(when it was printed, the line) of the next line holding ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                at, line = self.q.get(timeout=0.2)
            except queue.Empty:
                continue
            self.all.append(line)
            if text in line:
                return at, line
        raise AssertionError(f"no line with {text!r} within {timeout}s; got:\n" + "\n".join(self.all[-30:]))


def _docqa(env, cwd, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "docqa", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def _until(check, timeout: float = WAIT, what: str = "") -> float:
    """Run ``check()`` until it is true; returns the time it first was (perf_counter)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if check():
            return time.perf_counter()
        time.sleep(0.2)
    raise AssertionError(f"not seen within {timeout}s: {what}")


@pytest.mark.integration
def test_ingest_watch_follows_added_changed_and_deleted_files(seed_settings, tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(seed_settings.corpus_dir, corpus)
    shutil.copytree(seed_settings.index_dir, index)
    env = {**os.environ, "DOCQA_CORPUS_DIR": str(corpus), "DOCQA_INDEX_DIR": str(index), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "docqa", "ingest", "--watch"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = _Lines(proc)
    try:
        assert "4 unchanged" in out.wait_for("watch: start", 120)[1]
        out.wait_for("watching ", 30)

        def status() -> str:
            return _docqa(env, tmp_path, "status").stdout

        def ask(question: str) -> dict:
            r = _docqa(env, tmp_path, "ask", question, "--json")
            assert r.returncode == 0, r.stderr
            return json.loads(r.stdout)

        # Added.
        (corpus / "observatory.txt").write_text(ADDED, encoding="utf-8")
        _until(lambda: "observatory.txt" in status(), what="the added file in `docqa status`")
        a = ask("Who opened the Quenville Tidal Observatory?")
        assert not a["refused"] and any(c["source"] == "observatory.txt" and "Miriam Okonjo" in c["quote"]
                                        for c in a["citations"]), a

        # Changed: a seed article gets a new sentence. Latency: from the save to the watcher's "re-indexed"
        # line (nothing else runs meanwhile: polling with `docqa ask` processes would slow the re-index).
        out.wait_for("1 added", 10)
        seed_file = sorted(corpus.glob("*.txt"))[0]
        with open(seed_file, "a", encoding="utf-8") as f:
            f.write(CHANGED)
        saved = time.perf_counter()
        indexed, line = out.wait_for("1 updated", WAIT)
        t0 = time.perf_counter()
        r = ask("How many welders did the Lanzhou pilot programme retrain?")
        asked = time.perf_counter()
        assert any(c["source"] == seed_file.name and "4,812 welders" in c["quote"] for c in r["citations"]), r
        print(f"\nwatch mode: changed seed file saved -> re-indexed {indexed - saved:.1f} s "
              f"({line.split(': ', 1)[1].split(':')[0]}); then `docqa ask --json` answered in {asked - t0:.1f} s "
              f"(save -> answer in hand {asked - saved:.1f} s)")

        # Deleted.
        (corpus / "observatory.txt").unlink()
        _until(lambda: "observatory.txt" not in status(), what="the deleted file gone from `docqa status`")
        a = ask("Who opened the Quenville Tidal Observatory?")
        assert not any(c["source"] == "observatory.txt" for c in a["citations"] + a["related"])

        # Ctrl+C stops it cleanly.
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        out.wait_for("stopped watching", 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
