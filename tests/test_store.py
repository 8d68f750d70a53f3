"""Store reads that must scale: paged reads return every record exactly once."""
import pytest

from ingest.store import get_all, open_store

pytestmark = pytest.mark.integration


def test_get_all_pages_through_every_record(seed_settings, embedder):
    store = open_store(seed_settings, embedder.name, embedder.dim)
    for col in (store.sentences, store.chunks, store.docs):
        whole = col.get(include=["metadatas"])
        paged = get_all(col, ["metadatas"], page=7)  # many pages, last one partial
        assert len(paged["ids"]) == col.count() == len(set(paged["ids"]))
        assert sorted(paged["ids"]) == sorted(whole["ids"])
        assert len(paged["metadatas"]) == len(paged["ids"])
