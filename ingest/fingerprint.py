"""How an index was built: the fingerprint that decides when a document must be re-processed.

``fingerprint`` returns a flat dict of everything that changes what ingest
stores for the same file: the embedding model and the vector family of its encoder,
chunk size and overlap, the version constants of cleaning, sentence splitting,
chunking and entity extraction, and the storage layout of the records. It is written
into every manifest record and into the index's meta collection; a document
whose record holds another fingerprint is re-processed by the next
``docqa ingest``, which says why (``describe_change``). The content hash of a
document covers its bytes *and* this fingerprint (``version_hash``), so the
crash-safe switch of store.py replaces the old version like any edit.
"""
from __future__ import annotations

import hashlib
import json

# What each key's change means for the documents it touches: (doing, would do).
_VERB = {"model": ("re-embedding", "re-embed"), "encoder": ("re-embedding", "re-embed"),
         "layout": ("re-storing", "re-store"), "chunk_size": ("re-chunking", "re-chunk"),
         "chunk_overlap": ("re-chunking", "re-chunk"), "chunk": ("re-chunking", "re-chunk"),
         "clean": ("re-cleaning", "re-clean"), "split": ("re-splitting", "re-split"),
         "nlp": ("re-extracting entities of", "re-extract entities of")}
_OTHER = ("re-processing", "re-process")


def fingerprint(settings, model_name: str, encoder_id: str | None = None) -> dict:
    """The fingerprint of an index built with ``settings`` and the model ``model_name``.

    ``encoder_id``: the vector family that writes it (``ingest.encoders.identity``; default: the
    ``encoder`` setting's). Adding a stage's version is one more key here (e.g. ``"nlp": core.nlp.VERSION``).
    """
    from core import text

    from . import chunk, clean
    from .encoders import encoder_identity
    from .sentpack import LAYOUT

    return {
        "model": model_name,
        "encoder": encoder_id or encoder_identity(settings),
        "layout": LAYOUT,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "clean": clean.VERSION,
        "split": text.VERSION,
        "chunk": chunk.VERSION,
        "nlp": text.NLP_VERSION,
    }


def key(fp: dict | None) -> str:
    """A canonical string of ``fp`` ("" for none)."""
    return json.dumps(fp, sort_keys=True) if fp else ""


def parse(raw: str) -> dict | None:
    """A fingerprint from its stored JSON; None when there is none (written before fingerprints)."""
    try:
        got = json.loads(raw) if raw else None
    except ValueError:
        return None
    return got if isinstance(got, dict) else None


def version_hash(data: bytes, fp: dict | None, fp_key: bytes | None = None) -> str:
    """The content hash of a file's bytes as indexed with ``fp``: sha256 of both (of the bytes alone without one).

    ``fp_key``: ``key(fp).encode()`` computed once by a caller hashing many files."""
    h = hashlib.sha256(data)
    if fp:
        h.update(b"\x00fingerprint\x00" + (fp_key or key(fp).encode()))
    return h.hexdigest()


def changes(old: dict | None, new: dict) -> list[str]:
    """What differs, one "key old -> new" each (empty when equal)."""
    old = old or {}
    return [f"{k} {old.get(k, '(none)')} -> {new.get(k, '(none)')}" for k in sorted(set(old) | set(new), key=_order)
            if old.get(k) != new.get(k)]


def _order(k: str) -> tuple:
    keys = list(_VERB)
    return (keys.index(k) if k in keys else len(keys), k)


def describe_change(old: dict | None, new: dict, n_docs: int, would: bool = False) -> str:
    """One line: why ``n_docs`` documents are re-processed ("chunk_size 180 -> 120: re-chunking 4 documents").

    ``would``: the dry-run wording ("... would re-chunk 4 documents").
    """
    docs = f"{n_docs} document{'s' if n_docs != 1 else ''}"
    form = 1 if would else 0
    if not old:
        return f"index built before fingerprints were recorded: {'would re-process' if would else 're-processing'} " \
               f"{docs} once"
    keys = [k for k in sorted(set(old) | set(new), key=_order) if old.get(k) != new.get(k)]
    verbs = {_VERB.get(k, _OTHER)[form] for k in keys} or {_OTHER[form]}
    verb = verbs.pop() if len(verbs) == 1 else _OTHER[form]
    return f"{', '.join(changes(old, new))}: {'would ' if would else ''}{verb} {docs}"


def describe(fp: dict | None) -> str:
    """``fp`` on one line, for `docqa status`."""
    if not fp:
        return "(none recorded: built before fingerprints; the next `docqa ingest` re-processes it)"
    return ", ".join(f"{k}={fp[k]}" for k in sorted(fp, key=_order))
