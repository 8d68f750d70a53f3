"""One index writer at a time, across threads, processes and hosts.

``writer_lock(settings)`` is held by every ingest, upload, re-index and delete
(``pipeline.run_ingest`` and ``library.Library`` take it); readers never do.

- Embedded store: an OS file lock on ``index_dir/writer.lock`` (``filelock``),
  released by the kernel when its holder dies, plus ``writer.holder.json``
  naming the holder for whoever waits.
- Chroma server (hosts share one index): a lease record in the index's meta
  collection, ``lease-<n>`` with holder id, host, pid and expiry. Chroma has no
  compare-and-swap, but ``add`` of an existing id is ignored, so creating the
  next number is an atomic claim: whoever's ``add`` landed first holds it. The
  holder renews it every ``RENEW_SECONDS``; a lease is dead when it expired
  (``LEASE_SECONDS`` after its last renewal, by its writer's clock, plus a grace
  for clock skew), when a waiter saw no renewal for ``LEASE_SECONDS`` by its own
  clock, or at once when its holder's process is gone from this very host.

A second writer waits, logging a progress line every ``NOTICE_SECONDS``, or
with ``wait=False`` raises ``IndexBusyError`` naming the holder.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from core.errors import IndexBusyError

LEASE_SECONDS = 30.0  # a silent holder is presumed dead after this long
RENEW_SECONDS = 5.0  # how often a live holder renews its lease (well inside LEASE_SECONDS)
CLOCK_GRACE = 30.0  # seconds of clock skew between hosts tolerated before trusting a peer's expiry
POLL_SECONDS = 0.5  # how often a waiter looks again
NOTICE_SECONDS = 10.0  # how often a waiter says it is still waiting
LEASE_KIND = "lease"

_HELD = threading.local()  # index key -> depth, for the thread that holds it (re-entrant per thread)


def _index_key(settings) -> str:
    if settings.chroma_mode == "http":
        return f"http://{settings.chroma_host}:{settings.chroma_port}/{settings.collection}"
    return f"{Path(settings.index_dir).resolve()}/{settings.collection}"


def _me() -> dict:
    import psutil

    return {"host": socket.gethostname(), "pid": os.getpid(),
            "started": round(psutil.Process().create_time(), 2), "since": time.time()}


def describe_holder(h: dict | None) -> str:
    """'host H, pid P, since 12:03:05' for a holder record."""
    if not h:
        return "another writer"
    since = time.strftime("%H:%M:%S", time.localtime(float(h.get("since", 0))))
    return f"host {h.get('host', '?')}, pid {h.get('pid', '?')}, since {since}"


def _alive_here(h: dict) -> bool:
    """Whether the holder's process still runs (only answerable on its own host)."""
    import psutil

    try:
        p = psutil.Process(int(h["pid"]))
        return abs(p.create_time() - float(h.get("started", p.create_time()))) < 1.0 and \
            p.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, KeyError, ValueError, TypeError):
        return False


class _Waiter:
    """The waiting side: progress lines, or IndexBusyError without ``wait``."""

    def __init__(self, wait: bool, log, what: str):
        self.wait, self.log, self.what = wait, log, what
        self.t0 = time.monotonic()
        self.said = -NOTICE_SECONDS

    def blocked(self, holder: dict | None) -> None:
        who = describe_holder(holder)
        if not self.wait:
            raise IndexBusyError(f"{self.what} is being written by {who}; try again when it finishes "
                                 "(without --no-wait, docqa waits for it)")
        waited = time.monotonic() - self.t0
        if waited - self.said >= NOTICE_SECONDS:
            self.said = waited
            self.log(f"waiting for the index writer lock: {self.what} is being written by {who} "
                     f"(waited {waited:.0f}s)")
        time.sleep(POLL_SECONDS)


# -- embedded store: a file lock ---------------------------------------------------------------
@contextmanager
def _file_lock(settings, waiter: _Waiter):
    from filelock import FileLock, Timeout

    d = Path(settings.index_dir)
    d.mkdir(parents=True, exist_ok=True)
    holder_file = d / "writer.holder.json"
    lock = FileLock(str(d / "writer.lock"), thread_local=False)
    while True:
        try:
            lock.acquire(timeout=0)
            break
        except Timeout:
            try:
                holder = json.loads(holder_file.read_text())
            except (OSError, ValueError):
                holder = None
            waiter.blocked(holder)
    try:
        tmp = holder_file.with_name(f".writer.holder.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(_me()))
        os.replace(tmp, holder_file)
        yield None
    finally:
        holder_file.unlink(missing_ok=True)
        lock.release()


# -- Chroma server: a lease in the meta collection ------------------------------------------------
class Lease:
    """A held lease on a Chroma-server index: renewed by a thread until released."""

    def __init__(self, meta, number: int, record: dict):
        self.meta, self.number, self.record = meta, number, record
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name="docqa-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(RENEW_SECONDS):
            try:
                if _highest(self.meta)[0] != self.number:
                    self.lost = True  # presumed dead and taken over: stop claiming it
                    return
                self.record = {**self.record, "expires": time.time() + LEASE_SECONDS,
                               "beat": self.record.get("beat", 0) + 1}
                _put(self.meta, self.number, self.record, upsert=True)
            except Exception:  # a blip of the server: try again next round; expiry covers the rest
                continue

    def check(self) -> None:
        """Raise if the lease was lost (the holder stalled past its expiry and another writer took over)."""
        if self.lost:
            raise IndexBusyError("this writer lost the index lease (it stalled for over "
                                 f"{LEASE_SECONDS:.0f}s and another writer took over); run it again")

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=RENEW_SECONDS + 5)
        if not self.lost:
            try:
                _put(self.meta, self.number, {**self.record, "released": True, "expires": 0}, upsert=True)
            except Exception:
                pass  # unreachable server: the lease expires by itself


def _lease_id(n: int) -> str:
    return f"lease-{n:012d}"


def _put(meta, n: int, record: dict, upsert: bool) -> None:
    kw = dict(ids=[_lease_id(n)], embeddings=[[1.0]], documents=[json.dumps(record)],
              metadatas=[{"kind": LEASE_KIND, "n": n}])
    (meta.upsert if upsert else meta.add)(**kw)


def _highest(meta) -> tuple[int, dict | None]:
    """(number, record) of the newest lease; (0, None) when there is none."""
    got = meta.get(where={"kind": LEASE_KIND}, include=["documents", "metadatas"])
    best = (0, None)
    for doc, m in zip(got["documents"], got["metadatas"]):
        n = int(m.get("n", 0))
        if n > best[0]:
            try:
                best = (n, json.loads(doc))
            except ValueError:
                best = (n, {})
    return best


class _Observed:
    """A waiter's own-clock view of a lease: dead when it did not change for LEASE_SECONDS."""

    def __init__(self):
        self.key, self.since = None, time.monotonic()

    def silent_for(self, n: int, rec: dict) -> float:
        key = (n, rec.get("beat"), rec.get("holder"))
        if key != self.key:
            self.key, self.since = key, time.monotonic()
        return time.monotonic() - self.since


def _dead(rec: dict | None, silent: float) -> bool:
    if not rec or rec.get("released"):
        return True
    if rec.get("host") == socket.gethostname() and not _alive_here(rec):
        return True
    return time.time() > float(rec.get("expires", 0)) + CLOCK_GRACE or silent >= LEASE_SECONDS


@contextmanager
def _lease(settings, waiter: _Waiter):
    from .store import connect

    meta = connect(settings).get_or_create_collection(f"{settings.collection}_meta", embedding_function=None)
    me = {**_me(), "holder": uuid.uuid4().hex, "beat": 0}
    seen = _Observed()
    while True:
        n, rec = _highest(meta)
        if _dead(rec, seen.silent_for(n, rec or {})):
            claim = {**me, "since": time.time(), "expires": time.time() + LEASE_SECONDS}
            _put(meta, n + 1, claim, upsert=False)  # ignored if someone else created n + 1 first
            won_n, won = _highest(meta)
            if won_n == n + 1 and won and won.get("holder") == me["holder"]:
                break
            continue
        waiter.blocked(rec)
    lease = Lease(meta, n + 1, claim)
    old = meta.get(where={"$and": [{"kind": LEASE_KIND}, {"n": {"$lt": n}}]}, include=[])["ids"]
    if old:
        meta.delete(ids=old)  # keep the previous lease: a stale claimant's add of it stays a no-op
    try:
        yield lease
    finally:
        lease.release()


@contextmanager
def writer_lock(settings, wait: bool = True, log=None):
    """Hold the index's writer lock for the block; re-entrant within one thread.

    Yields a handle whose ``check()`` raises if a lease was lost (server mode); None for a
    nested or embedded hold.
    """
    import sys

    key = _index_key(settings)
    held = getattr(_HELD, "depth", None)
    if held is None:
        held = _HELD.depth = {}
    if held.get(key):
        held[key] += 1
        try:
            yield None
        finally:
            held[key] -= 1
        return
    log = log or (lambda msg: print(msg, file=sys.stderr))
    what = ("the index" if settings.chroma_mode == "embedded"
            else f"the index {settings.collection!r} on {settings.chroma_host}:{settings.chroma_port}")
    waiter = _Waiter(wait, log, what)
    hold = _file_lock if settings.chroma_mode == "embedded" else _lease
    with hold(settings, waiter) as handle:
        held[key] = 1
        try:
            yield handle
        finally:
            held[key] = 0
