"""Cleaning of each seed article: what goes, and that no article sentence is lost."""
import re
from pathlib import Path

import pytest

from ingest.clean import _unescape, clean_text

pytestmark = pytest.mark.unit
CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SEEDS = sorted(CORPUS.glob("*.txt"))

# Lines of the raw seeds that are page chrome, by design removed.
CHROME = {"Leave a Comment", "Post navigation", "back to top", "More Reading", "Comments", "Leave a Reply",
          "If you like this post you might also like these",
          "Your email address will not be published. Required fields are marked *"}


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def _raw_sentences(raw: str):
    for line in _unescape(raw).split("\n"):
        line = _norm(line)
        if not line or line in CHROME or line.startswith(("{", "“title”", '"title"', "“content”")):
            continue
        for sent in re.split(r"(?<=[.!?])\s+", line):
            if len(sent.split()) >= 4:
                yield sent


def test_four_seeds_present():
    assert len(SEEDS) == 4


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name[:3])
def test_no_article_sentence_lost(path):
    raw = path.read_text(encoding="utf-8")
    cleaned = clean_text(raw)
    text = _norm(cleaned.text)
    missing = [s for s in _raw_sentences(raw) if s not in text]
    assert not missing, missing[:3]
    # Curly quotes and the article's words stay as written.
    if "’" in raw:
        assert "’" in cleaned.text
    assert "\\n" not in cleaned.text
    assert "  " not in cleaned.text


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name[:3])
def test_boilerplate_removed_everywhere(path):
    cleaned = clean_text(path.read_text(encoding="utf-8"))
    paragraphs = set(cleaned.text.split("\n\n"))
    assert not paragraphs & CHROME
    assert len(paragraphs) == len(cleaned.text.split("\n\n")), "a paragraph is repeated"


def test_seed_001_author_bio_kept_once():
    raw = (CORPUS / "001_d5c15e6c1eacf066.txt").read_text(encoding="utf-8")
    assert raw.count("Artūras Malašauskas is an AI Systems Integrator") == 2
    cleaned = clean_text(raw)
    assert cleaned.text.count("Artūras Malašauskas is an AI Systems Integrator") == 1
    assert "Comments" in cleaned.removed
    assert cleaned.title == "The Great Balancing Act: Beijing’s Uneasy Bet on AI Without the Pink Slips"


def test_seed_003_json_wrapper_and_repeated_opening():
    raw = (CORPUS / "003_9069547e2e577a36.txt").read_text(encoding="utf-8")
    cleaned = clean_text(raw)
    t = cleaned.text
    assert "\\n" in raw and "\\n" not in t
    assert "“title”" not in t and '"content"' not in t and "“content”" not in t and "{" not in t
    # The opening sentence and heading appear twice in the raw file (once in the JSON one-liner).
    assert raw.count("China’s labor market is currently navigating a complex transition.") == 2
    assert t.count("China’s labor market is currently navigating a complex transition.") == 1
    assert t.count("The Demographic and Economic Imperative") == 1
    for chrome in ("More Reading", "Post navigation", "Leave a Comment", "back to top"):
        assert chrome in cleaned.removed
    assert "• AI Data Annotators and Trainers:" in t
    assert cleaned.title.startswith("China’s AI Job Revolution")
    assert t.endswith("Through")  # the article is truncated at the source; we do not invent an end


def test_seed_000_title_is_its_headline():
    cleaned = clean_text((CORPUS / "000_6004c01da089df79.txt").read_text(encoding="utf-8"))
    assert cleaned.title == "China Balances Artificial Intelligence Development with Employment Stability"
    assert cleaned.removed == ()


def test_generic_rules():
    raw = ("My Title\r\n\r\nFirst  para\u00a0here.\u200b\n\nFirst para here.\n\nLeave a Reply\n"
           "Name *\nEmail *\nWebsite\n")
    c = clean_text(raw)
    assert c.title == "My Title"
    assert c.text == "My Title\n\nFirst para here."


def test_untitled_document_gets_first_sentence_title():
    c = clean_text("This article has no heading at all and starts straight away. Second sentence.")
    assert c.title == "This article has no heading at all and starts straight away."
