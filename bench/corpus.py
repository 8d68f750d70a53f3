"""Synthetic corpora of ~N chunks, built deterministically from the real sentences of the seed articles.

How: every seed article is loaded and cleaned by the real pipeline
(``prepare_document``) and split into paragraphs and sentences
(``core.text.sentences``). A synthetic document gets a distinct title (a seed
heading or title plus a numbered "dossier" suffix) and 6-14 paragraphs; each
paragraph is a run of 2-5 consecutive sentences from a random seed paragraph
(so local coherence is real), plus 0-2 sentences drawn from any article, and
the paragraphs are shuffled. ``random.Random(seed)`` drives every choice, so
the same (seed, size) always gives byte-identical files. Documents are
generated until the chunk count (estimated with the bench chunker, see
``fastindex.fast_chunks``) reaches the target.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = ["field notes", "policy brief", "briefing", "dossier", "working paper", "digest", "case file",
            "review", "memo", "survey notes", "press summary", "analysis"]


@dataclass(frozen=True)
class SeedPool:
    """Paragraphs (as sentence lists) and title candidates from the seed articles."""

    paragraphs: list[list[str]]
    sentences: list[str]
    titles: list[str]


def load_seed_pool(corpus_dir: Path) -> SeedPool:
    """Clean the seed files with the real pipeline and cut them into paragraphs and sentences."""
    from core.text import sentences
    from ingest.load import LoadError, discover
    from ingest.pipeline import prepare_document

    files, _ = discover([Path(corpus_dir)])
    paragraphs, titles = [], []
    for path in files:
        try:
            doc = prepare_document(path, Path(corpus_dir))
        except LoadError:
            continue
        titles.append(doc.title)
        for para in doc.text.split("\n\n"):
            sents = sentences(para)
            heading = len(sents) == 1 and len(para) < 120 and not para.rstrip().endswith((".", "?", "!"))
            if heading and not para.lstrip().startswith(("-", "•", "*")):
                titles.append(para.strip())  # a section heading
            elif sents:
                paragraphs.append(sents)
    if not paragraphs:
        raise ValueError(f"no usable text in {corpus_dir} to build a synthetic corpus from")
    sentences = [s for p in paragraphs for s in p]
    return SeedPool(paragraphs, sentences, sorted(set(titles)))


def synth_document(pool: SeedPool, rng: random.Random, n: int) -> str:
    """One synthetic document's text: a distinct title line, then paragraphs separated by blank lines."""
    title = f"{rng.choice(pool.titles)} ({rng.choice(SUFFIXES)} {n:06d})"
    paras = []
    for _ in range(rng.randint(6, 14)):
        src = rng.choice(pool.paragraphs)
        width = min(len(src), rng.randint(2, 5))
        start = rng.randint(0, len(src) - width)
        sents = src[start:start + width] + [rng.choice(pool.sentences) for _ in range(rng.randint(0, 2))]
        paras.append(" ".join(sents))
    rng.shuffle(paras)
    return title + "\n\n" + "\n\n".join(paras) + "\n"


def build_corpus(out_dir: Path, target_chunks: int, seed_dir: Path, settings, seed: int = 1234) -> dict:
    """Write ``out_dir/doc_NNNNNN.txt`` until the estimated chunk count reaches ``target_chunks``.

    Reuses an existing folder built with the same parameters (a ``.params`` stamp).
    Returns {"docs", "est_chunks", "est_sentences", "how"}.
    """
    from .fastindex import fast_chunks
    from ingest.clean import clean_text

    out_dir = Path(out_dir)
    stamp = out_dir / ".params"
    params = f"target={target_chunks} seed={seed} size={settings.chunk_size} overlap={settings.chunk_overlap} v3"
    if stamp.exists() and stamp.read_text().startswith(params):
        first, docs, chunks, sents = stamp.read_text().split("\n")[:4]
        return {"docs": int(docs), "est_chunks": int(chunks), "est_sentences": int(sents), "reused": True}
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("doc_*.txt"):
        old.unlink()
    pool = load_seed_pool(seed_dir)
    rng = random.Random(f"{seed}:{target_chunks}")
    n_docs = n_chunks = n_sents = 0
    while n_chunks < target_chunks:
        text = synth_document(pool, rng, n_docs)
        cleaned = clean_text(text, fallback_title=f"doc {n_docs}")
        spans, groups = fast_chunks(cleaned.text, settings.chunk_size, settings.chunk_overlap,
                                    settings.model_path)
        (out_dir / f"doc_{n_docs:06d}.txt").write_text(text, encoding="utf-8")
        n_docs += 1
        n_chunks += len(groups)
        n_sents += len(spans)
    stamp.write_text(f"{params}\n{n_docs}\n{n_chunks}\n{n_sents}\n")
    return {"docs": n_docs, "est_chunks": n_chunks, "est_sentences": n_sents, "reused": False}


def describe(pool_stats: dict | None = None) -> str:
    """The paragraph for results.md saying how the corpora were made."""
    doc = (__doc__ or "").split("How:", 1)[1]
    return "How the synthetic corpora were built:" + re.sub(r"\s+", " ", doc).rstrip()
