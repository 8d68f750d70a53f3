"""A local copy of an index's manifest, named by its generation token (ingest/store.py ``Store.records``).

Every manifest write changes the token (``Store.bump_generation``), so a copy whose token is the
current one holds exactly the current records; any other is ignored and replaced. Reading the
manifest from Chroma costs ~80 us a document (14 s at 170k documents, 1M chunks); the copy loads
in a fraction of that. It lives in ``index_dir`` beside the BM25 files, per host, also in server mode.

The token itself has a local copy too, the stamp (local indexes only): ``Store.generation`` reads it
instead of Chroma while it still holds the token last read there.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path


def read_cache(path: Path | None, gen: str | None, record) -> dict | None:
    """The records (``record`` values: store.DocRecord) kept in ``path`` if they are generation ``gen``'s, else None."""
    if path is None or gen is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("generation") != gen:
            return None
        fps = data["fingerprints"]
        return {r[0]: record(*r[:8], fps[r[8]]) for r in data["records"]}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def write_cache(path: Path | None, gen: str | None, records: dict) -> None:
    """Keep ``records`` of generation ``gen`` in ``path`` (atomically; a failure only costs the next read)."""
    if path is None or gen is None:
        return
    fps: dict[str, int] = {}
    rows = [[r.doc_id, r.source, r.path, r.title, r.content_hash, r.n_chunks, r.n_sentences, r.indexed_at,
             fps.setdefault(r.fingerprint, len(fps))] for r in records.values()]
    try:
        replace_text(path, json.dumps({"generation": gen, "fingerprints": list(fps), "records": rows}))
    except OSError:
        pass


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk must not leave a half-written temp file behind
        raise


def read_stamp(path: Path | None) -> str | None:
    """The generation token kept in ``path`` (Store.generation), or None."""
    if path is None:
        return None
    try:
        return path.read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeError):
        return None


def write_stamp(path: Path, token: str) -> None:
    """Replace the stamp file atomically. Failing that, remove it (readers then ask Chroma every time);
    a stamp that can be neither written nor removed would hide the change, so that stops the writer."""
    try:
        replace_text(path, token)
    except OSError:
        try:
            path.unlink(missing_ok=True)
        except OSError as e:
            from core.errors import StoreUnavailableError

            raise StoreUnavailableError(f"cannot write or remove {path} ({e.strerror}): make the index folder "
                                        "writable and run `docqa ingest` again") from None
