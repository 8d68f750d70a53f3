"""What each file hashed to, keyed by its stat: an unchanged re-ingest need not read every file again.

``plan`` decides "unchanged" by hashing a file's bytes with the index fingerprint
(``fingerprint.version_hash``) and comparing with its manifest record. At 1M chunks that read 1.1 GB
from 168k files: 27 s of a 72 s re-ingest on a cold page cache, besides the hashing. Like git's index,
this file remembers, per source, the stat it had when it was hashed (size, mtime and ctime in ns,
inode, device) and the hash; a file whose stat is exactly the same is not read. Any write to a file
changes its ctime, which no tool can set back, so an edit that keeps size and mtime is still seen.

A hash is only remembered for a file whose mtime and ctime are at least ``RACY_S`` older than the
moment the memory is written (git's "racy clean" rule): a file changed again within the same timestamp
tick as it was hashed is read again next time. The memory is per fingerprint (another chunking, model or
encoder hashes differently) and lives in ``index_dir`` beside the manifest copy; it is only ever a
shortcut: losing or corrupting it costs one full read, never a wrong answer about what changed.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .manifest_cache import replace_text

RACY_S = 3.0  # > the coarsest common timestamp granularity (FAT: 2 s)


def stat_key(path) -> list[int] | None:
    """[size, mtime_ns, ctime_ns, inode, device] of ``path``, or None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


class FileStats:
    """source -> (stat, hash) of the files hashed by earlier runs under fingerprint key ``fp_key``."""

    def __init__(self, path: Path | None, fp_key: str):
        self.path, self.fp_key = path, fp_key
        self.old: dict[str, list] = {}
        self.new: dict[str, list] = {}
        self.seen: set[str] = set()  # sources looked at in this run: their old entries are replaced or dropped
        if path is None:
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("fingerprint") == fp_key:
                self.old = data["files"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none yet, or unreadable: every file is read once

    def known(self, source: str, st: list[int] | None) -> str | None:
        """The hash remembered for ``source`` if its stat is exactly ``st``; else None (read it)."""
        self.seen.add(source)
        got = self.old.get(source)
        if st is None or not got or got[:5] != st:
            return None
        return got[5]

    def note(self, source: str, st: list[int] | None, digest: str) -> None:
        """Remember that ``source``, stat'ed as ``st`` *before* it was read, hashed to ``digest``."""
        self.seen.add(source)
        if st is not None:
            self.new[source] = [*st, digest]

    def save(self, keep: set[str] | None = None) -> None:
        """Write what this run hashed or confirmed, and the entries of files it did not look at that are in
        ``keep`` (the manifest's sources); atomically: a failure only costs reads next time."""
        if self.path is None:
            return
        fresh = time.time_ns() - int(RACY_S * 1e9)
        files = {s: v for s, v in self.old.items() if s not in self.seen and (keep is None or s in keep)}
        files.update((s, v) for s, v in self.new.items() if v[1] < fresh and v[2] < fresh)
        if files == self.old:
            return
        try:
            replace_text(self.path, json.dumps({"fingerprint": self.fp_key, "files": files}))
        except OSError:
            pass
