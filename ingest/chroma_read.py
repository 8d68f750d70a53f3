"""A read-only view of an embedded Chroma index through Chroma's own Rust core, without its Python client.

Importing ``chromadb`` costs 1.1-1.6 s on the 2-core bench machine (its HTTP, telemetry, schema and
embedding-function modules), more than the rest of a one-shot `docqa ask` together. In embedded mode that
client is a shim over ``chromadb_rust_bindings.Bindings`` (chromadb/api/rust.py, ``RustBindingsAPI``); this
module makes the same binding calls with the same arguments for the reads answering needs (list and get
collections, get, query, count), so the engine, the files and the results are Chroma's own (tests compare
them with the client's). It imports in ~25 ms.

Only a process that reads and exits uses it (the in-process path of `docqa ask`): a long-lived process that
also writes (the UI's document library) keeps one PersistentClient, so its reads see its own writes.
Anything unexpected (a chromadb whose bindings differ, a database that needs a migration) raises
``ReadClientUnavailable`` and ``ingest.store.connect`` opens the usual client instead.
"""
from __future__ import annotations

import json
from pathlib import Path

TENANT, DATABASE = "default_tenant", "default_database"  # chromadb.config.DEFAULT_TENANT / DEFAULT_DATABASE


class ReadClientUnavailable(Exception):
    """The bindings cannot open this index read-only; use chromadb.PersistentClient."""


class ReadOnlyError(RuntimeError):
    """A write through the read-only client: a bug in the caller, which must open the store to write."""


class ReadCollection:
    """The read half of ``chromadb.Collection``: count, get, query (same arguments, same results)."""

    def __init__(self, bindings, model):
        self._b = bindings
        self.id, self.name = str(model.id), model.name
        self.metadata, self.configuration_json = model.metadata, model.configuration

    def count(self) -> int:
        return self._b.count(self.id, TENANT, DATABASE)

    def get(self, ids=None, where=None, limit=None, offset=None, where_document=None,
            include=("metadatas", "documents")) -> dict:
        include = list(include)
        r = self._b.get(self.id, list(ids) if ids is not None else None, json.dumps(where) if where else None,
                        limit, offset or 0, json.dumps(where_document) if where_document else None, include,
                        TENANT, DATABASE)
        out = {"ids": r.ids, "embeddings": r.embeddings, "documents": r.documents, "uris": None,
               "included": include, "data": None, "metadatas": r.metadatas}
        if "embeddings" in include:
            import numpy as np

            out["embeddings"] = np.array(r.embeddings)
        return out

    def query(self, query_embeddings, n_results=10, where=None, where_document=None,
              include=("metadatas", "documents", "distances")) -> dict:
        include = list(include)
        embs = [[float(x) for x in e] for e in query_embeddings]
        r = self._b.query(self.id, None, embs, n_results, json.dumps(where) if where else None,
                          json.dumps(where_document) if where_document else None, include, TENANT, DATABASE)
        out = {"ids": r.ids, "embeddings": r.embeddings, "documents": r.documents, "uris": None,
               "included": include, "data": None, "metadatas": r.metadatas, "distances": r.distances}
        if "embeddings" in include and r.embeddings is not None:
            import numpy as np

            out["embeddings"] = [np.array(e) for e in r.embeddings]
        return out

    def _refuse(self, *args, **kwargs):
        raise ReadOnlyError(f"collection {self.name} was opened read-only")

    add = upsert = update = delete = modify = _refuse


class ReadClient:
    """The read half of ``chromadb.PersistentClient`` for the Chroma folder ``path``."""

    def __init__(self, path: Path):
        db = Path(path) / "chroma.sqlite3"
        if not db.is_file():
            raise ReadClientUnavailable(f"no Chroma database at {db}")
        try:
            import resource

            import chromadb_rust_bindings as rb

            # As RustBindingsAPI.start: the defaults of chromadb.config.Settings (md5 migration hashes), except
            # that migrations are validated, never applied: a database that needs one is left to the client.
            cfg = rb.SqliteDBConfig(hash_type=rb.MigrationHash.MD5, migration_mode=rb.MigrationMode.Validate,
                                    url=str(db))
            self._b = rb.Bindings(allow_reset=False, sqlite_db_config=cfg, persist_path=str(path),
                                  hnsw_cache_size=resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 5)
        except Exception as e:  # noqa: BLE001 - any failure means: use the client
            raise ReadClientUnavailable(f"{e.__class__.__name__}: {e}") from None

    def list_collections(self) -> list[str]:
        return [c.name for c in self._b.list_collections(None, None, TENANT, DATABASE)]

    def get_collection(self, name: str, **_ignored) -> ReadCollection:
        return ReadCollection(self._b, self._b.get_collection(name, TENANT, DATABASE))

    def get_or_create_collection(self, name: str, **_ignored) -> ReadCollection:
        """The existing collection (a reader never creates one; Store checks that it exists first)."""
        return self.get_collection(name)

    def _refuse(self, *args, **kwargs):
        raise ReadOnlyError("this Chroma client was opened read-only")

    create_collection = delete_collection = _refuse
