"""Watch mode: re-index the corpus folder when its files are added, changed or removed.

Polling, no new dependency and no inotify: every ``interval`` seconds the folder's
supported files are listed with (size, mtime); once the listing has stopped changing
for ``debounce`` seconds (an editor's save, a copy of many files), ``run_ingest``
brings the index in line, incrementally. ``docqa ingest --watch`` runs it in the
foreground (Ctrl+C stops it); ``docqa serve --watch`` in a thread beside the UI,
whose Documents tab follows ``Watcher.generation``.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from .load import SUPPORTED

POLL_SECONDS = 1.0  # a stat of every file per second: cheap for thousands of files
DEBOUNCE_SECONDS = 1.5  # quiet time after the last change, so a save or a bulk copy is indexed once
WARM_UP_TEXT = "warm up " * 200  # longer than the model's window, like a full chunk after truncation


def snapshot(roots: list[Path]) -> dict[str, tuple[int, int]]:
    """{path: (size, mtime_ns)} of the supported files under ``roots`` (dot folders and files skipped,
    as ingest skips them; links not followed into folders)."""
    out: dict[str, tuple[int, int]] = {}
    for root in roots:
        root = Path(root)
        if root.is_file():
            paths = [root]
        else:
            paths = []
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                paths += [Path(dirpath) / f for f in filenames if not f.startswith(".")]
        for p in paths:
            if p.suffix.lower() not in SUPPORTED:
                continue
            try:
                st = p.stat()
            except OSError:  # vanished between the listing and the stat: the next poll sees it gone
                continue
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


class Watcher:
    """Polls ``roots`` (default: the corpus folder) and calls ``reindex()`` after changes settle.

    ``reindex`` defaults to ``run_ingest`` with a model loaded once, at the start; the UI passes
    its ``Library.reindex`` (and ``Library.embedder``) so uploads and watch-triggered runs share
    one write lock and one model.
    ``generation`` counts finished re-indexes; ``last`` is the last one's summary line.
    """

    def __init__(self, settings, roots: list[Path] | None = None, reindex=None, interval: float = POLL_SECONDS,
                 debounce: float = DEBOUNCE_SECONDS, log=None, embedder=None):
        self.settings = settings
        self.roots = [Path(r) for r in (roots or [settings.corpus_dir])]
        self.interval, self.debounce = interval, debounce
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self._embedder = embedder
        self._reindex = reindex or self._run_ingest
        self.generation = 0
        self.last = ""
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def _run_ingest(self) -> str:
        from .pipeline import run_ingest

        return run_ingest(self.settings, self.roots, progress=False, log=self.log, embedder=self._embedder).summary()

    def _warm_up(self) -> None:
        """Load the embedding model and run one full-size batch now, so the first change is not kept waiting.

        A single short text is not enough: on CPU torch the first batch of long texts took 17 s where
        the next took 3 s (2 shared cores), so the warm-up encodes a batch of chunk-sized texts.
        """
        if self._embedder is None:
            from .embed import get_embedder

            self._embedder = get_embedder(self.settings)
        try:
            self._embedder.encode([WARM_UP_TEXT] * max(1, self.settings.embed_batch_size))
        except Exception as e:  # a broken model shows up again, with its message, in the first re-index
            self.log(f"watch: could not load the embedding model yet ({e.__class__.__name__})")

    def reindex_now(self, reason: str) -> None:
        """Run one re-index and log it; an error is logged and the watch goes on."""
        from core.errors import DocqaError

        t0 = time.perf_counter()
        try:
            line = self._reindex()
        except DocqaError as e:
            self.log(f"watch: re-index failed: {e}; retrying after the next change")
            return
        except Exception as e:  # a watcher must outlive one bad run; the next change retries
            self.log(f"watch: re-index failed ({e.__class__.__name__}: {e}); retrying after the next change")
            return
        self.generation += 1
        self.last = f"{time.strftime('%H:%M:%S')} {reason}: {line}"
        self.log(f"watch: {reason}; re-indexed in {time.perf_counter() - t0:.1f}s: {line}")

    def run(self, initial: bool = True) -> None:
        """Watch until ``stop()`` (or Ctrl+C in the foreground); ``initial`` re-indexes once first."""
        where = ", ".join(str(r) for r in self.roots)
        self._warm_up()
        if initial:
            self.reindex_now("start")
        seen = snapshot(self.roots)
        self.log(f"watching {where} for changes (every {self.interval:g}s); Ctrl+C stops")
        changed_at = None
        while not self.stop_event.wait(self.interval):
            now = snapshot(self.roots)
            if now != seen:
                changed = _describe(seen, now)
                seen, changed_at = now, time.monotonic()
                self.log(f"watch: {changed}")
                continue
            if changed_at is not None and time.monotonic() - changed_at >= self.debounce:
                changed_at = None
                self.reindex_now("files changed")
                seen = snapshot(self.roots)  # edits made during the run are picked up by the next poll's diff
                if seen != now:
                    changed_at = time.monotonic()

    def start(self, initial: bool = True) -> "Watcher":
        """Run in a daemon thread (for ``docqa serve --watch``)."""
        self._thread = threading.Thread(target=self.run, kwargs={"initial": initial}, name="docqa-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling; waits for a re-index in progress to finish."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)


def _describe(old: dict, new: dict) -> str:
    added = [p for p in new if p not in old]
    removed = [p for p in old if p not in new]
    changed = [p for p in new if p in old and new[p] != old[p]]
    parts = [f"{len(x)} {what} ({', '.join(Path(p).name for p in x[:3])}{', ...' if len(x) > 3 else ''})"
             for x, what in ((added, "added"), (changed, "changed"), (removed, "removed")) if x]
    return "seen " + "; ".join(parts)


def watch(settings, paths: list[Path] | None = None, rebuild: bool = False) -> int:
    """`docqa ingest --watch`: index, then re-index on every change until Ctrl+C (or SIGTERM). Returns 0.

    The first signal lets a re-index in progress finish; a second one interrupts it (the
    pipeline is crash-safe, so the next run repairs what it left).
    """
    import signal

    w = Watcher(settings, roots=paths)

    def stop(signum, frame):
        if w.stop_event.is_set():
            raise KeyboardInterrupt
        w.log("stopping (press Ctrl+C again to interrupt a re-index in progress)")
        w.stop_event.set()

    # Set explicitly: a process started in the background inherits an ignored SIGINT.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if rebuild:
        from .pipeline import run_ingest

        w.log(run_ingest(settings, paths, rebuild=True, progress=False).summary())
    try:
        w.run(initial=True)
    except KeyboardInterrupt:
        pass
    w.log("stopped watching")
    return 0
