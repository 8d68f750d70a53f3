"""Chroma storage: chunks (each with its sentences) and a document manifest.

``open_store`` connects to an embedded PersistentClient (default) or a Chroma
server (HttpClient) through the same code path. Document switches are
crash-safe: new chunks are written first, then the manifest record flips to
the new content hash in one upsert, then old chunks are deleted. Readers only
trust chunks whose (doc_id, content_hash) matches a manifest record, so they
see the old or the new version of a document, never a mix.

A chunk record carries its sentences (offsets, entities, float16 vectors; ingest/sentpack.py):
answering reads them with the chunk, and no nearest-neighbour index is kept for sentence vectors
that are only read by id. Indexes of the older layout (a ``_sentences`` collection) are refused
by readers with a one-line message; ``docqa ingest`` converts them (the fingerprint's "layout").

The meta collection also holds the writer state: a writer marks the index
dirty before its first write and clean after its last (``begin_write`` /
``end_write``), so the next writer sweeps leftovers only after one that died
(see ingest/lock.py for the one-writer-at-a-time lock), and the fingerprint of
how the index was built (ingest/fingerprint.py).
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.errors import IndexLayoutError, IndexMissingError, ModelMismatchError, StoreUnavailableError
from .faults import crash_point
from .manifest_cache import read_cache, read_stamp, write_cache, write_stamp
from .sentpack import LAYOUT, ents_text, pack, unpack

BATCH = 2000  # Chroma rejects very large single writes
GENERATION_ID = "generation"
STATE_ID = "writer-state"  # {"dirty": bool, "by": host:pid, "at": time} of the last writer
FINGERPRINT_ID = "fingerprint"  # how the index was last built (JSON of ingest.fingerprint.fingerprint)
# A dead writer that planned at most this many documents is swept by document (two reads each,
# ~0.1 s at 100k chunks); beyond, one pass over every vector's metadata (~100 s there) is cheaper.
TARGETED_SWEEP_MAX = 300
KINDS = ("chunks", "docs", "meta")  # the collections of one index: f"{name}_{kind}"
LEGACY_KINDS = ("sentences",)  # collections of older layouts: dropped by a rebuild, or once converted
# HNSW candidates per search. Chroma's default (100) missed 6-10 of the exact top-60 over 100 SQuAD
# questions on the 648-chunk squad2-dev index, and which ones changed from process to process: an index
# under Chroma's sync_threshold (1000 records) is rebuilt from its log on every load, in parallel, so
# each process searches another graph and the same question could get another answer after a restart.
# 400 gave the exact top-60 in 3 of 3 processes there; it cost ~3 ms a search at the bench's 100k chunks.
EF_SEARCH = 400
RECENT = 512  # chunk records kept from the last searches: answering reads their sentences without a second read
DEFAULT_ENCODER = "fp32"  # what an index recorded before encoders were (torch's vectors)


@dataclass(frozen=True)
class DocRecord:
    doc_id: str
    source: str
    path: str
    title: str
    content_hash: str
    n_chunks: int
    n_sentences: int
    indexed_at: float
    fingerprint: str = ""  # JSON of how it was built; "" for records written before fingerprints


NO_INDEX = "no index yet: run `docqa ingest` first (or `make run`)"


def connect(settings, read_only: bool = False):
    """A Chroma client: embedded PersistentClient, or HttpClient when chroma_mode = "http".

    ``read_only`` (embedded only): Chroma's Rust core without the Python client (ingest/chroma_read.py,
    1.1-1.6 s less to start), for a process that reads and exits; the client where that cannot open.
    """
    from core.offline import enforce_offline

    enforce_offline()
    if read_only and settings.chroma_mode != "http":
        from .chroma_read import ReadClient, ReadClientUnavailable

        if not (Path(settings.index_dir) / "chroma" / "chroma.sqlite3").is_file():
            # Said here: the client would import chromadb (~1.5 s) and create the folder, for a reader.
            raise IndexMissingError(NO_INDEX)
        try:
            return ReadClient(Path(settings.index_dir) / "chroma")
        except ReadClientUnavailable:
            pass
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    cs = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_mode == "http":
        try:
            client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=cs)
            client.heartbeat()
        except Exception as e:
            raise StoreUnavailableError(
                f"cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} "
                f"({e.__class__.__name__}); start it with `chroma run --path DIR --host "
                f"{settings.chroma_host} --port {settings.chroma_port}` or set chroma_mode = \"embedded\"") from None
        return client
    path = Path(settings.index_dir) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=cs)


def _record(did: str, m: dict) -> DocRecord:
    return DocRecord(did, m["source"], m["path"], m["title"], m["content_hash"], int(m["n_chunks"]),
                     int(m["n_sentences"]), float(m["indexed_at"]), m.get("fingerprint", ""))


def _widen_search(chunks) -> None:
    """Give an index created with a narrower HNSW search (older docqa) EF_SEARCH: a writer's open upgrades it."""
    hnsw = (getattr(chunks, "configuration_json", None) or {}).get("hnsw") or {}
    if int(hnsw.get("ef_search") or 0) < EF_SEARCH:
        chunks.modify(configuration={"hnsw": {"ef_search": EF_SEARCH}})


class Store:
    """The collections of one docqa index: chunks (with their sentences), the manifest (docs), and meta: the
    manifest's generation token, the writer state, the fingerprint and (Chroma server) the writer lease."""

    def __init__(self, client, name: str, model_name: str, dim: int, create: bool, fingerprint: dict | None = None,
                 encoder_id: str = DEFAULT_ENCODER, inspect: bool = False, cache: Path | None = None,
                 stamp: Path | None = None):
        import threading
        from collections import OrderedDict

        self.client, self.name, self.model_name, self.dim = client, name, model_name, dim
        self.fingerprint = fingerprint  # written into each manifest record
        self.encoder_id = encoder_id
        self.cache = cache  # the manifest's local copy (see records); None: none kept
        self.stamp = stamp  # the generation token's local copy (see generation); None: none (server mode)
        self._gen_seen: str | None = None  # the token last read from Chroma, when the stamp file held it too
        self.inspect = inspect  # opened to read the manifest only (status, dry run): write nothing, not even the copy
        self._records: dict | None = None  # a writer's view of the manifest, kept up to date by its writes
        existing = {c if isinstance(c, str) else c.name for c in client.list_collections()}
        names = {k: f"{name}_{k}" for k in KINDS}
        if not create and names["chunks"] not in existing:
            raise IndexMissingError(NO_INDEX)
        # A layout-1 index (sentences in their own collection) until every document is re-processed.
        self.legacy = [f"{name}_{k}" for k in LEGACY_KINDS if f"{name}_{k}" in existing]
        if self.legacy and not (create or inspect):
            raise IndexLayoutError("the index was built by an older docqa (sentences stored apart from their "
                                   "chunks); run `docqa ingest` to convert it (re-processes every document once)")
        meta = {"embed_model": model_name, "embed_dim": dim, "embed_encoder": encoder_id, "layout": LAYOUT}
        cfg = {"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}}
        self.chunks = client.get_or_create_collection(names["chunks"], metadata=meta, configuration=cfg,
                                                      embedding_function=None)
        if create and not inspect:
            _widen_search(self.chunks)
        got = self.chunks.metadata or {}
        if got.get("embed_model") != model_name or int(got.get("embed_dim", dim)) != dim:
            raise ModelMismatchError(
                f"the index was built with {got.get('embed_model')} ({got.get('embed_dim')}-dim), not "
                f"{model_name} ({dim}-dim); run `docqa ingest --rebuild`")
        built = got.get("embed_encoder", DEFAULT_ENCODER)
        if built != encoder_id:
            from .encoders import settings_for

            raise ModelMismatchError(
                f"the index was built with encoder {built}, not {encoder_id}; run `docqa ingest --rebuild` or set "
                f"encoder = \"{settings_for(built)}\"")
        self.docs = client.get_or_create_collection(names["docs"], embedding_function=None)
        # One record whose token changes with every manifest write: readers poll it (one read by id)
        # instead of re-reading the whole manifest per query (~0.8 s at 17k documents).
        self.meta = client.get_or_create_collection(names["meta"], embedding_function=None)
        self._recent: OrderedDict = OrderedDict()  # chunk id -> (text, metadata), see chunk_records
        self._recent_lock = threading.Lock()
        self._pending: dict = {}  # sentence id -> vector, between write_rows calls (see write_rows)

    # -- manifest ---------------------------------------------------------
    def records(self) -> dict[str, DocRecord]:
        """doc_id -> DocRecord for every document fully indexed.

        Kept in a file beside the index, named by the generation token (which every manifest write
        changes): reading 170k records from Chroma took 14 s of an unchanged re-ingest at 1M chunks.
        """
        gen = self.generation()
        out = read_cache(self.cache, gen, DocRecord)
        if out is None:
            out = {did: _record(did, m) for page in pages(self.docs, ["metadatas"])
                   for did, m in zip(page["ids"], page["metadatas"])}
            if not self.inspect:
                write_cache(self.cache, gen, out)
        self._records = dict(out)
        return out

    def generation(self) -> str | None:
        """A token that changes whenever the manifest does; None on an index that never had one.

        Chroma holds the token; a local index also keeps it in a stamp file, written *before* Chroma's
        (``bump_generation``). While the file still holds the token last read from Chroma, Chroma's cannot
        have changed since, so the read by id (~1.5 ms, every query) is skipped for a file read (~20 us).
        A writer killed between the two writes leaves them different: readers then ask Chroma every time.
        """
        hint = read_stamp(self.stamp)
        if hint is not None and hint == self._gen_seen:
            return hint
        got = self.meta.get(ids=[GENERATION_ID], include=["documents"])
        token = got["documents"][0] if got["ids"] else None
        self._gen_seen = token if token is not None and token == hint else None
        return token

    def has_stamp(self) -> bool:
        """Whether readers can use the stamp file (a server-mode index never has one, and needs none)."""
        return self.stamp is None or read_stamp(self.stamp) is not None

    def bump_generation(self) -> None:
        """Tell readers the manifest changed (after every manifest write)."""
        token = uuid.uuid4().hex
        if self.stamp is not None:
            write_stamp(self.stamp, token)  # first: a reader trusting the old stamp must see it change
        self.meta.upsert(ids=[GENERATION_ID], embeddings=[[1.0]], documents=[token])
        self._gen_seen = None

    # -- writer state and fingerprint (meta records) -----------------------
    def _meta_json(self, rid: str) -> dict | None:
        got = self.meta.get(ids=[rid], include=["documents"])
        try:
            return json.loads(got["documents"][0]) if got["ids"] else None
        except (TypeError, ValueError):
            return None

    def _put_meta_json(self, rid: str, value: dict) -> None:
        self.meta.upsert(ids=[rid], embeddings=[[1.0]], documents=[json.dumps(value, sort_keys=True)])

    def left_dirty(self) -> bool:
        """Did the last writer die before finishing (or is this an index from before the state was kept)?"""
        state = self._meta_json(STATE_ID)
        if state is None:
            return self.docs.count() > 0 or self.chunks.count() > 0
        return bool(state.get("dirty"))

    def dirty_docs(self) -> list[str] | None:
        """The documents the last (dirty) writer was about to write; None when unknown (sweep them all)."""
        state = self._meta_json(STATE_ID) or {}
        docs = state.get("docs")
        return list(docs) if isinstance(docs, list) else None

    def begin_write(self, doc_ids=None) -> None:
        """Mark the index dirty: call before the first write of a run (under the writer lock).

        ``doc_ids``, the documents the run will write or remove, let a sweep after its death look
        at those only; None (or more than TARGETED_SWEEP_MAX) means a sweep of every vector.
        """
        ids = sorted(set(doc_ids)) if doc_ids is not None else None
        self._put_meta_json(STATE_ID, {"dirty": True, "by": f"{socket.gethostname()}:{os.getpid()}",
                                       "at": time.time(),
                                       "docs": ids if ids is not None and len(ids) <= TARGETED_SWEEP_MAX else None})

    def end_write(self) -> None:
        """Mark the index clean: call after the last write of a run that finished.

        Also keeps the manifest's local copy (``records``) of the writer's view, so the next run reads
        it from a file: this writer saw (and made) every manifest write since it read the manifest."""
        self._put_meta_json(STATE_ID, {"dirty": False, "by": f"{socket.gethostname()}:{os.getpid()}",
                                       "at": time.time()})
        if self._records is not None:
            write_cache(self.cache, self.generation(), self._records)

    def index_fingerprint(self) -> dict | None:
        """The fingerprint the last complete run built the index with (None: never recorded)."""
        return self._meta_json(FINGERPRINT_ID)

    def set_index_fingerprint(self, fp: dict) -> None:
        self._put_meta_json(FINGERPRINT_ID, fp)

    def document_text(self, doc_id: str) -> str | None:
        """The cleaned text of a document, as indexed."""
        got = self.docs.get(ids=[doc_id], include=["documents"])
        return got["documents"][0] if got["ids"] else None

    # -- writes -----------------------------------------------------------
    def _add(self, col, ids, embs, docs, metas) -> None:
        for i in range(0, len(ids), BATCH):
            col.upsert(ids=ids[i:i + BATCH], embeddings=embs[i:i + BATCH], documents=docs[i:i + BATCH],
                       metadatas=metas[i:i + BATCH])

    @staticmethod
    def rows(doc, chunks, sentences, ents: list | None = None) -> list[tuple]:
        """(kind, id, text, metadata) of every text of one document to embed, in write order: each chunk's
        sentences not listed before it ("sentences"), then the chunk ("chunks").

        A chunk's record holds every sentence inside it, the overlap it starts with included, with
        their vectors (ingest/sentpack.py): answering reads them with the chunk. Sentence rows are
        embedded but not records of their own; ``write_rows`` packs them into their chunks.
        """
        from .chunk import sentences_of

        base = {"doc_id": doc.doc_id, "content_hash": doc.content_hash, "source": doc.source, "title": doc.title}
        # Named entities of each sentence ("LABEL\ttext" lines), for the answer-type check at answer
        # time, where running the recogniser would cost ~6 ms a sentence.
        ents = ents if ents is not None else [None] * len(sentences)
        ent_of = {x.sentence_id: ents_text(e) for x, e in zip(sentences, ents)}
        out, listed = [], set()
        for c, inside in zip(chunks, sentences_of(chunks, sentences)):
            for x in inside:
                if x.sentence_id not in listed:
                    listed.add(x.sentence_id)
                    out.append(("sentences", x.sentence_id, x.text, {"doc_id": doc.doc_id, "start": x.start}))
            out.append(("chunks", c.chunk_id, c.text,
                        {**base, "start": c.start, "end": c.end, "index": c.index, "n_tokens": c.n_tokens,
                         "_inside": inside, "_ents": [ent_of[x.sentence_id] for x in inside]}))
        return out

    def write_rows(self, rows: list[tuple], embs: list) -> None:
        """Write the chunk records of ``rows`` (as made by ``rows``; ``embs`` their vectors, same order).

        Rows may be cut anywhere between calls: sentence vectors wait in the store until the chunks that
        hold them come. Readers ignore the records until the manifest names their content hash (``switch``).
        """
        ids, vecs, docs, metas = [], [], [], []
        for (kind, rid, text, meta), emb in zip(rows, embs):
            if kind == "sentences":
                self._pending[rid] = (meta["doc_id"], meta["start"], emb)
                continue
            inside = meta["_inside"]
            packed = pack(inside, [self._pending[x.sentence_id][2] for x in inside], meta["_ents"])
            ids.append(rid)
            vecs.append(emb)
            docs.append(text)
            metas.append({**{k: v for k, v in meta.items() if not k.startswith("_")}, **packed})
            # Later chunks of this document overlap this one at most: older sentences are done with.
            self._pending = {k: v for k, v in self._pending.items()
                             if v[0] == meta["doc_id"] and v[1] >= meta["start"]}
        if ids:
            import numpy as np

            self._add(self.chunks, ids, np.asarray(vecs, dtype=np.float32), docs, metas)
        crash_point("between_writes")

    def switch(self, docs: list[tuple], replacing: set[str] | None = None) -> None:
        """Point the manifest at new document versions, then drop their old versions.

        ``docs`` are (doc, n_chunks, n_sentences) whose vectors are all written. One upsert
        for the whole group: Chroma costs ~25 ms a call. Old versions are dropped for
        ``replacing`` (default: every document); a new document has none, except leftovers
        of a killed run, which ``sweep`` removes.
        """
        if not docs:
            return
        crash_point("before_switch")
        now = time.time()
        fp = json.dumps(self.fingerprint, sort_keys=True) if self.fingerprint else ""
        metas = [{"source": d.source, "path": d.path, "title": d.title, "content_hash": d.content_hash,
                  "n_chunks": nc, "n_sentences": ns, "indexed_at": now, "fingerprint": fp} for d, nc, ns in docs]
        # The manifest last: a reader never sees a record without its vectors.
        self._add(self.docs, [d.doc_id for d, _, _ in docs], [[1.0]] * len(docs), [d.text for d, _, _ in docs], metas)
        if self._records is not None:
            self._records.update({d.doc_id: _record(d.doc_id, m) for (d, _, _), m in zip(docs, metas)})
        self.bump_generation()
        crash_point("after_switch")
        for d, _, _ in docs:
            if replacing is None or d.doc_id in replacing:
                self._drop_versions(d.doc_id, keep=d.content_hash)

    def put_documents(self, items: list[tuple], replacing: set[str] | None = None) -> None:
        """Write new versions of several documents, switch the manifest to all of them, then drop old versions.

        ``items`` are (doc, chunks, chunk_embs, sentences, sent_embs); see ``write_rows`` and ``switch``.
        """
        if not items:
            return
        rows, embs = [], []
        for doc, chunks, chunk_embs, sentences, sent_embs in items:
            vec = {c.chunk_id: v for c, v in zip(chunks, chunk_embs)}
            vec.update({x.sentence_id: v for x, v in zip(sentences, sent_embs)})
            got = self.rows(doc, chunks, sentences)
            rows += got
            embs += [vec[r[1]] for r in got]
        self.write_rows(rows, embs)
        self.switch([(doc, len(chunks), len(sentences)) for doc, chunks, _, sentences, _ in items], replacing)

    def _drop_versions(self, doc_id: str, keep: str | None) -> None:
        where = {"doc_id": doc_id} if keep is None else {"$and": [{"doc_id": doc_id}, {"content_hash": {"$ne": keep}}]}
        self.chunks.delete(where=where)

    def remove_document(self, doc_id: str) -> None:
        """Forget a document: the manifest first (readers stop seeing it), then its vectors."""
        self.docs.delete(ids=[doc_id])
        if self._records is not None:
            self._records.pop(doc_id, None)
        self.bump_generation()
        self._drop_versions(doc_id, keep=None)

    def sweep(self, doc_ids: list[str] | None = None) -> int:
        """Delete vectors left by an interrupted run (no manifest record, or an old hash); returns how many.

        Run it only under the writer lock and only when ``left_dirty()``: between its vector
        writes and its manifest switch a live writer has exactly such vectors. With the dead
        writer's ``doc_ids`` (``dirty_docs``) only theirs are looked at (a read by document
        each); without, every chunk's metadata is read, a page at a time.
        Also bumps the generation: a writer killed between a manifest write and its bump
        leaves readers on the old manifest until the next run, which starts here.
        """
        self.bump_generation()
        removed = 0
        if doc_ids is not None:
            wanted = set(doc_ids)
            current = {r.doc_id: r.content_hash for r in self.records().values() if r.doc_id in wanted}
            for did in doc_ids:
                where = {"doc_id": did} if did not in current else \
                    {"$and": [{"doc_id": did}, {"content_hash": {"$ne": current[did]}}]}
                stale = self.chunks.get(where=where, include=[])["ids"]
                for i in range(0, len(stale), BATCH):
                    self.chunks.delete(ids=stale[i:i + BATCH])
                removed += len(stale)
            return removed
        current = {r.doc_id: r.content_hash for r in self.records().values()}
        stale = []
        for page in pages(self.chunks, ["metadatas"]):
            stale += [i for i, m in zip(page["ids"], page["metadatas"])
                      if current.get(m.get("doc_id")) != m.get("content_hash")]
        for i in range(0, len(stale), BATCH):
            self.chunks.delete(ids=stale[i:i + BATCH])
        return len(stale)

    def counts(self) -> tuple[int, int, int]:
        """(documents, chunks, sentences) stored (sentences as the manifest counts them)."""
        return self.docs.count(), self.chunks.count(), sum(r.n_sentences for r in self.records().values())

    def drop_legacy(self) -> None:
        """Drop the collections of the older layout (once no document of the index uses them)."""
        for name in self.legacy:
            self.client.delete_collection(name)
        self.legacy = []

    # -- reads of chunk records -------------------------------------------
    def remember(self, ids, docs, metas) -> None:
        """Keep chunk records just read (a search's hits) for ``chunk_records``: ids are content hashes,
        so a kept record never goes stale, only unused."""
        with self._recent_lock:
            for cid, text, meta in zip(ids, docs, metas):
                self._recent[cid] = (text, meta)
                self._recent.move_to_end(cid)
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)

    def chunk_records(self, ids: list[str]) -> dict[str, tuple[str, dict]]:
        """chunk id -> (text, metadata): from the last searches' hits, the rest in one read by id."""
        with self._recent_lock:
            out = {cid: self._recent[cid] for cid in ids if cid in self._recent}
        missing = [cid for cid in ids if cid not in out]
        if missing:
            got = self.chunks.get(ids=missing, include=["documents", "metadatas"])
            self.remember(got["ids"], got["documents"], got["metadatas"])
            out.update({cid: (text, meta) for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"])})
        return out

    def stored_sentences(self, where: dict | None = None) -> list[tuple]:
        """(sentence id, text, metadata, vector) of every sentence stored in the chunks matching ``where``
        (all chunks: None), each once, under the first chunk (in index order) that holds it."""
        recs = []
        for page in pages(self.chunks, ["documents", "metadatas"], where=where):
            recs += zip(page["ids"], page["documents"], page["metadatas"])
        recs.sort(key=lambda r: (r[2].get("doc_id", ""), r[2].get("content_hash", ""), int(r[2].get("index", 0))))
        seen, out = set(), []
        for cid, text, meta in recs:
            for row in unpack(cid, text, meta):
                if row[0] not in seen:
                    seen.add(row[0])
                    out.append(row)
        return out


def pages(collection, include: list[str], page: int = 5000, where: dict | None = None):
    """``collection.get`` of every record (matching ``where``), one page of ``page`` records at a time.

    One unpaged ``get`` of a collection over ~32k records fails inside Chroma ("too many SQL
    variables"), and a page at a time keeps memory flat at any index size.
    """
    offset = 0
    while True:
        got = collection.get(include=include, limit=page, offset=offset, **({"where": where} if where else {}))
        yield {"ids": got["ids"], **{k: list(got[k] if got[k] is not None else []) for k in include}}
        if len(got["ids"]) < page:
            return
        offset += page


def get_all(collection, include: list[str], page: int = 5000) -> dict:
    """``collection.get`` of every record, read in pages (see ``pages``)."""
    out: dict = {"ids": [], **{k: [] for k in include}}
    for got in pages(collection, include, page):
        out["ids"] += got["ids"]
        for k in include:
            out[k] += got[k]
    return out


def open_store(settings, model_name: str, dim: int, create: bool = False, encoder_id: str | None = None,
               inspect: bool = False, read_only: bool = False) -> Store:
    """Open (or with ``create``, create) the index named by ``settings.collection``.

    ``encoder_id`` names the vectors the caller reads or writes (``ingest.encoders.identity``; default:
    the ``encoder`` setting's); an index written by another family refuses with ModelMismatchError.
    An index of the older layout refuses readers (IndexLayoutError) unless ``inspect``: the manifest is read
    and nothing is written (`docqa status`, the dry run). ``read_only``: for a process that only reads and
    exits (see ``connect``); its writes raise.
    """
    from core.errors import DocqaError
    from .encoders import encoder_identity
    from .fingerprint import fingerprint

    enc = encoder_id or encoder_identity(settings)

    def store(client):
        return Store(client, settings.collection, model_name, dim, create, fingerprint(settings, model_name, enc),
                     enc, inspect, Path(settings.index_dir) / f"manifest-{settings.collection}.json",
                     stamp_path(settings))

    if read_only and not create:
        from .chroma_read import ReadClient

        client = connect(settings, read_only=True)
        if not isinstance(client, ReadClient):
            return store(client)
        try:
            return store(client)
        except DocqaError:
            raise
        except Exception:  # noqa: BLE001 - e.g. a manifest collection missing, which the client creates
            pass
    return store(connect(settings))


def stamp_path(settings) -> Path | None:
    """The local copy of the generation token (``Store.generation``); None in server mode, where
    writers on other hosts never write this host's file."""
    return None if settings.chroma_mode == "http" else Path(settings.index_dir) / f"generation-{settings.collection}"


def read_index_model(settings) -> tuple[str, int] | None:
    """(model name, dim) recorded in the index, without loading the embedding model."""
    client = connect(settings)
    name = f"{settings.collection}_chunks"
    if name not in {c if isinstance(c, str) else c.name for c in client.list_collections()}:
        return None
    m = client.get_collection(name, embedding_function=None).metadata or {}
    return m.get("embed_model"), int(m.get("embed_dim", 0))
