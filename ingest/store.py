"""Chroma storage: chunks, sentences and a document manifest in three collections.

``open_store`` connects to an embedded PersistentClient (default) or a Chroma
server (HttpClient) through the same code path. Document switches are
crash-safe: new chunks are written first, then the manifest record flips to
the new content hash in one upsert, then old chunks are deleted. Readers only
trust chunks whose (doc_id, content_hash) matches a manifest record, so they
see the old or the new version of a document, never a mix.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.errors import IndexMissingError, ModelMismatchError, StoreUnavailableError
from .faults import crash_point

BATCH = 2000  # Chroma rejects very large single writes
GENERATION_ID = "generation"
KINDS = ("chunks", "sentences", "docs", "meta")  # the collections of one index: f"{name}_{kind}"


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


def connect(settings):
    """A Chroma client: embedded PersistentClient, or HttpClient when chroma_mode = "http"."""
    from core.offline import enforce_offline

    enforce_offline()
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


class Store:
    """The collections of one docqa index: chunks, sentences, the manifest (docs) and its generation (meta)."""

    def __init__(self, client, name: str, model_name: str, dim: int, create: bool):
        self.client, self.name, self.model_name, self.dim = client, name, model_name, dim
        existing = {c if isinstance(c, str) else c.name for c in client.list_collections()}
        names = {k: f"{name}_{k}" for k in KINDS}
        if not create and names["chunks"] not in existing:
            raise IndexMissingError("no index yet: run `docqa ingest` first (or `make run`)")
        meta = {"embed_model": model_name, "embed_dim": dim}
        cfg = {"hnsw": {"space": "cosine"}}
        self.chunks = client.get_or_create_collection(names["chunks"], metadata=meta, configuration=cfg,
                                                      embedding_function=None)
        got = self.chunks.metadata or {}
        if got.get("embed_model") != model_name or int(got.get("embed_dim", dim)) != dim:
            raise ModelMismatchError(
                f"the index was built with {got.get('embed_model')} ({got.get('embed_dim')}-dim), not "
                f"{model_name} ({dim}-dim); run `docqa ingest --rebuild`")
        self.sentences = client.get_or_create_collection(names["sentences"], metadata=meta, configuration=cfg,
                                                         embedding_function=None)
        self.docs = client.get_or_create_collection(names["docs"], embedding_function=None)
        # One record whose token changes with every manifest write: readers poll it (one read by id)
        # instead of re-reading the whole manifest per query (~0.8 s at 17k documents).
        self.meta = client.get_or_create_collection(names["meta"], embedding_function=None)

    # -- manifest ---------------------------------------------------------
    def records(self) -> dict[str, DocRecord]:
        """doc_id -> DocRecord for every document fully indexed."""
        got = get_all(self.docs, ["metadatas"])
        out = {}
        for did, m in zip(got["ids"], got["metadatas"]):
            out[did] = DocRecord(did, m["source"], m["path"], m["title"], m["content_hash"],
                                 int(m["n_chunks"]), int(m["n_sentences"]), float(m["indexed_at"]))
        return out

    def generation(self) -> str | None:
        """A token that changes whenever the manifest does; None on an index that never had one."""
        got = self.meta.get(ids=[GENERATION_ID], include=["documents"])
        return got["documents"][0] if got["ids"] else None

    def bump_generation(self) -> None:
        """Tell readers the manifest changed (after every manifest write)."""
        self.meta.upsert(ids=[GENERATION_ID], embeddings=[[1.0]], documents=[uuid.uuid4().hex])

    def document_text(self, doc_id: str) -> str | None:
        """The cleaned text of a document, as indexed."""
        got = self.docs.get(ids=[doc_id], include=["documents"])
        return got["documents"][0] if got["ids"] else None

    # -- writes -----------------------------------------------------------
    def _add(self, col, ids, embs, docs, metas) -> None:
        for i in range(0, len(ids), BATCH):
            col.upsert(ids=ids[i:i + BATCH], embeddings=embs[i:i + BATCH], documents=docs[i:i + BATCH],
                       metadatas=metas[i:i + BATCH])

    def put_documents(self, items: list[tuple], replacing: set[str] | None = None) -> None:
        """Write new versions of several documents, switch the manifest to all of them, then drop old versions.

        ``items`` are (doc, chunks, chunk_embs, sentences, sent_embs). One upsert per
        kind for the whole group: Chroma costs ~25 ms a call, so per-document writes
        were 3x slower than batched ones (7.9 s vs 2.4 s for 6.3k records). Old versions
        are dropped for ``replacing`` (default: every document); a new document has
        none, except leftovers of a killed run, which ``sweep`` removes at the start.
        """
        if not items:
            return
        ch, se, dc = ([], [], [], []), ([], [], [], []), ([], [], [])
        now = time.time()
        for doc, chunks, chunk_embs, sentences, sent_embs in items:
            base = {"doc_id": doc.doc_id, "content_hash": doc.content_hash, "source": doc.source,
                    "title": doc.title}
            ch[0].extend(c.chunk_id for c in chunks)
            ch[1].extend(chunk_embs)
            ch[2].extend(c.text for c in chunks)
            # A chunk lists its sentences' ids, so answering reads them by id: a metadata-filtered
            # read of the sentences costs ~40 ms at 500k sentences, a read by id ~5 ms.
            by_chunk: dict[str, list[str]] = {}
            for x in sentences:
                by_chunk.setdefault(x.chunk_id, []).append(x.sentence_id)
            ch[3].extend({**base, "start": c.start, "end": c.end, "index": c.index, "n_tokens": c.n_tokens,
                          "sentence_ids": ",".join(by_chunk.get(c.chunk_id, ()))} for c in chunks)
            se[0].extend(x.sentence_id for x in sentences)
            se[1].extend(sent_embs)
            se[2].extend(x.text for x in sentences)
            se[3].extend({**base, "chunk_id": x.chunk_id, "start": x.start, "end": x.end, "index": x.index}
                         for x in sentences)
            dc[0].append(doc.doc_id)
            dc[1].append(doc.text)
            dc[2].append({"source": doc.source, "path": doc.path, "title": doc.title,
                          "content_hash": doc.content_hash, "n_chunks": len(chunks),
                          "n_sentences": len(sentences), "indexed_at": now})
        self._add(self.chunks, *ch)
        crash_point("between_writes")
        self._add(self.sentences, *se)
        crash_point("before_switch")
        # The manifest last: a reader never sees a record without its vectors.
        self._add(self.docs, dc[0], [[1.0]] * len(dc[0]), dc[1], dc[2])
        self.bump_generation()
        crash_point("after_switch")
        for doc, *_ in items:
            if replacing is None or doc.doc_id in replacing:
                self._drop_versions(doc.doc_id, keep=doc.content_hash)

    def _drop_versions(self, doc_id: str, keep: str | None) -> None:
        where = {"doc_id": doc_id} if keep is None else {"$and": [{"doc_id": doc_id}, {"content_hash": {"$ne": keep}}]}
        self.chunks.delete(where=where)
        self.sentences.delete(where=where)

    def remove_document(self, doc_id: str) -> None:
        """Forget a document: the manifest first (readers stop seeing it), then its vectors."""
        self.docs.delete(ids=[doc_id])
        self.bump_generation()
        self._drop_versions(doc_id, keep=None)

    def sweep(self) -> int:
        """Delete vectors left by an interrupted run (no manifest record, or an old hash).

        Also bumps the generation: a writer killed between a manifest write and its bump
        leaves readers on the old manifest until the next run, which starts here.
        """
        self.bump_generation()
        current = {r.doc_id: r.content_hash for r in self.records().values()}
        removed = 0
        for col in (self.chunks, self.sentences):
            got = get_all(col, ["metadatas"])
            stale = [i for i, m in zip(got["ids"], got["metadatas"])
                     if current.get(m.get("doc_id")) != m.get("content_hash")]
            for i in range(0, len(stale), BATCH):
                col.delete(ids=stale[i:i + BATCH])
            removed += len(stale)
        return removed

    def counts(self) -> tuple[int, int, int]:
        """(documents, chunks, sentences) stored."""
        return self.docs.count(), self.chunks.count(), self.sentences.count()


def get_all(collection, include: list[str], page: int = 5000) -> dict:
    """``collection.get`` of every record, read in pages.

    One unpaged ``get`` of a collection over ~32k records fails inside Chroma
    ("too many SQL variables"), so large indexes are read ``page`` at a time.
    """
    out: dict = {"ids": [], **{k: [] for k in include}}
    offset = 0
    while True:
        got = collection.get(include=include, limit=page, offset=offset)
        out["ids"] += got["ids"]
        for k in include:
            out[k] += list(got[k] if got[k] is not None else [])
        if len(got["ids"]) < page:
            return out
        offset += page


def open_store(settings, model_name: str, dim: int, create: bool = False) -> Store:
    """Open (or with ``create``, create) the index named by ``settings.collection``."""
    return Store(connect(settings), settings.collection, model_name, dim, create)


def read_index_model(settings) -> tuple[str, int] | None:
    """(model name, dim) recorded in the index, without loading the embedding model."""
    client = connect(settings)
    name = f"{settings.collection}_chunks"
    if name not in {c if isinstance(c, str) else c.name for c in client.list_collections()}:
        return None
    m = client.get_collection(name, embedding_function=None).metadata or {}
    return m.get("embed_model"), int(m.get("embed_dim", 0))
