"""The NumPy query encoder gives sentence-transformers' vectors."""
import numpy as np
import pytest

from ingest.npembed import NumpyEncoder

pytestmark = pytest.mark.integration

TEXTS = ["Which court ruled on AI layoffs?", "x", "", "12.7 million graduates — “quoted” text, 2026!",
         "Long text about retraining workers. " * 60, "中国的人工智能与就业"]


def test_numpy_matches_sentence_transformers(embedder):
    enc = NumpyEncoder(embedder.model_path)
    ours = enc.encode(TEXTS)
    ref = embedder.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == ref.shape == (len(TEXTS), 384)
    assert np.abs(ours - ref).max() < 1e-4
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_small_batches_route_to_numpy_and_agree():
    from ingest.embed import Embedder
    from core.settings import Settings

    e = Embedder(Settings().model_path)
    q = e.encode_query("What did the Hangzhou court decide?")
    assert e._st is None, "a query must not load torch"
    big = e.encode(["What did the Hangzhou court decide?"] + ["filler"] * 20)
    assert e._st is not None
    assert np.abs(q - big[0]).max() < 1e-4


def test_length_sorted_batches_keep_input_order(embedder):
    # Embedder.encode sorts texts by length for batching; row i must still be text i.
    texts = TEXTS * 7 + [f"sentence number {i} about jobs" for i in range(30)]
    ours = embedder.encode(texts)
    ref = embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == (len(texts), 384)
    assert np.abs(ours - ref).max() < 1e-4
    assert not np.allclose(ours[0], ours[1])
