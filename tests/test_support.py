"""The support check on hand-made supported and unsupported (sentence, passage) pairs, real model."""
import pytest

from core.text import lemmas, names, numbers
from qa.support import is_supported

PASSAGE = ("A landmark ruling by the Hangzhou Intermediate People’s Court recently declared that firms can’t "
           "just lay off employees because an AI system can do their job cheaper. Instead, companies are "
           "expected to prioritize retraining or internal reassignment.")

SUPPORTED = [
    "The Hangzhou Intermediate People’s Court declared that firms can’t just lay off employees because an AI "
    "system can do their job cheaper.",
    "Companies are expected to prioritize retraining or internal reassignment.",
    "A court in Hangzhou ruled that firms cannot lay off employees just because AI can do their job cheaper.",
]
UNSUPPORTED = [
    "The Beijing Supreme Court fined Alibaba 5 million yuan for replacing staff with AI.",  # invented names/numbers
    "The ruling was issued in March 2024.",  # a date the passage lacks
    "China's economy grew rapidly in the 1990s thanks to exports.",  # off-topic
    "Tencent built a new headquarters in Shenzhen.",  # different entities entirely
    "Firms can lay off employees because AI is cheaper.",  # the passage says they can't: negation flipped
    "",
]


@pytest.mark.integration
@pytest.mark.parametrize("sentence", SUPPORTED)
def test_supported_pairs_pass(embedder, sentence):
    ok, score = is_supported(sentence, PASSAGE, embedder)
    assert ok, score
    assert 0.6 <= score <= 1.0


@pytest.mark.integration
@pytest.mark.parametrize("sentence", UNSUPPORTED)
def test_unsupported_pairs_fail(embedder, sentence):
    ok, score = is_supported(sentence, PASSAGE, embedder)
    assert not ok, score


@pytest.mark.unit
def test_helpers():
    assert numbers("12.7 million and 10,000 workers") == {"12.7", "10000"}
    assert "hangzhou" in names("a ruling by the Hangzhou court")
    assert "the" not in names("He said The end")
    assert lemmas("ruled") & lemmas("ruling")
    assert lemmas("graduates") & lemmas("graduate")
