"""Fit the answerability model (``qa/answerability.py``) on the development sets.

    docqa calibrate                        # or: python -m eval.calibrate
    docqa calibrate --datasets ../shared/datasets --out qa/answerability.json --png eval/answerability.png

Every question is answered by the same code that answers users (``qa.answer.gather``, ``qa.select``,
``qa.answerability.features``) against an index of its own corpus (built once under
``<index_dir>/calibrate/``, re-used while the corpus is unchanged). A logistic regression is fitted on
the *fit pool*: SQuAD 2.0 ``fit.jsonl``, CLAPNQ and the bundled ``seed_qa`` (both reported by 5-fold
cross-validation, since they have no separate fit file) and cross-corpus negatives (answerable
questions of one corpus asked of another, which no passage there answers). Each source weighs the
same in the fit, the negatives a quarter. The threshold is the lowest one at which the share of answerable
questions refused stays within MAX_FALSE_REFUSAL in every fit source. SQuAD's ``eval.jsonl`` and the second
bundled set ``casual_qa`` are only reported, never fitted.
The weights file is rounded so that the same data and code rewrite it byte for byte.
"""
from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

MAX_FALSE_REFUSAL = 0.10  # the operating point: answerable questions refused in each fit source
NEGATIVE_WEIGHT = 0.25  # cross-corpus negatives are easy; they must not outvote real near misses
NEGATIVES_PER_PAIR = 150  # answerable questions asked of each other corpus
CV_FOLDS = 5
SEED = 0
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Source:
    """One list of labelled questions over one corpus; ``role`` is fit, cv (fit + cross-validated) or report."""

    name: str
    questions: Path
    corpus: Path
    role: str


def sources(datasets: Path) -> list[Source]:
    """The development sources: external sets under ``datasets`` and the bundled sets."""
    squad, clapnq = datasets / "squad2-dev", datasets / "clapnq-dev"
    return [Source("squad2-fit", squad / "fit.jsonl", squad / "corpus", "fit"),
            Source("clapnq", clapnq / "eval.jsonl", clapnq / "corpus", "cv"),
            Source("squad2-eval", squad / "eval.jsonl", squad / "corpus", "report"),
            Source("seed_qa", ROOT / "eval" / "seed_qa.jsonl", ROOT / "corpus", "cv"),
            Source("casual_qa", ROOT / "eval" / "casual_qa.jsonl", ROOT / "corpus", "report")]


def _label(corpus: Path) -> str:
    """A short name of a corpus folder: its dataset's name, or "seed" for the bundled corpus."""
    return "seed" if corpus.parent == ROOT else corpus.parent.name


def _index(settings, corpus: Path, cache: Path, embedder):
    """Settings of an index of ``corpus`` under ``cache`` (built or brought up to date)."""
    from ingest.pipeline import run_ingest

    s = settings.replace(corpus_dir=corpus, index_dir=cache / corpus.parent.name / corpus.name,
                         chroma_mode="embedded")
    run_ingest(s, progress=False, embedder=embedder, log=lambda m: None)
    return s


def feature_rows(items, settings, embedder, source: str, negative: bool = False) -> list[dict]:
    """Per question: features (as answering computes them), the label and the source."""
    from qa.answer import clean_question, gather
    from qa.answerability import features
    from qa.select import expand_lists, select

    rows = []
    for it in items:
        q, _ = clean_question(it.question)
        history = None if negative else ([dict(h) for h in it.history] or None)
        ev = gather(q, history, settings, "extractive", settings.top_k, embedder)
        picks = expand_lists(select(ev.info, ev.ranked, settings.answer_sentences, ev.said), ev.res.store,
                             ev.res.records)
        f = features(ev.info, ev.passages, ev.ranked, picks, ev.res)
        rows.append({"id": it.id, "source": source, "unanswerable": negative or it.unanswerable,
                     "overview": ev.info.shape == "overview", "features": f})
    return rows


def collect(settings, datasets: Path, cache: Path, progress=print) -> list[dict]:
    """Feature rows of every source and of the cross-corpus negatives."""
    from eval.evalset import load_evalset
    from ingest.embed import get_embedder

    embedder = get_embedder(settings)
    rng = random.Random(SEED)
    rows, indexes, answerable = [], {}, {}
    for src in sources(datasets):
        items, _ = load_evalset(src.questions)
        idx = indexes.setdefault(src.corpus, _index(settings, src.corpus, cache, embedder))
        progress(f"{src.name}: {len(items)} questions")
        rows += [dict(r, role=src.role) for r in feature_rows(items, idx, embedder, src.name)]
        if src.role in ("fit", "cv"):
            answerable[src.corpus] = [it for it in items if not it.unanswerable and not it.history]
    for corpus, items in answerable.items():
        for other, idx in indexes.items():
            if other == corpus:
                continue
            sample = rng.sample(items, min(NEGATIVES_PER_PAIR, len(items)))
            name = f"{_label(corpus)}->{_label(other)}"
            progress(f"{name}: {len(sample)} negatives")
            rows += [dict(r, role="fit") for r in feature_rows(sample, idx, embedder, name, negative=True)]
    return rows


def _matrix(rows, names):
    import numpy as np

    return (np.array([[r["features"][n] for n in names] for r in rows], dtype=float),
            np.array([int(r["unanswerable"]) for r in rows]))


def _weights(rows):
    import numpy as np

    count: dict[str, int] = {}
    for r in rows:
        count[r["source"]] = count.get(r["source"], 0) + 1
    return np.array([(NEGATIVE_WEIGHT if "->" in r["source"] else 1.0) * 1000.0 / count[r["source"]] for r in rows])


def fit(rows: list[dict], names) -> dict:
    """Standardise, fit a logistic regression, pick the threshold; the model as a JSON-able dict."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X, y = _matrix(rows, names)
    mean, scale = X.mean(0), X.std(0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=1.0, max_iter=5000).fit((X - mean) / scale, y, sample_weight=_weights(rows))
    spec = {"features": list(names), "mean": [round(float(v), 6) for v in mean],
            "scale": [round(float(v), 6) for v in scale], "coef": [round(float(v), 6) for v in lr.coef_[0]],
            "intercept": round(float(lr.intercept_[0]), 6), "threshold": 0.5}
    from qa.answerability import Model

    p = np.array([Model(spec).probability(r["features"]) for r in rows])
    # The lowest threshold at which every source refuses at most MAX_FALSE_REFUSAL of its answerable
    # questions: a pooled rate would let the largest source set it for all.
    groups = {}
    for pi, r in zip(p, rows):
        if "->" not in r["source"] and not r["unanswerable"]:
            groups.setdefault(r["source"], []).append(pi)
    spec["threshold"] = 1.0
    for th in sorted({round(float(v), 6) for v in p}, reverse=True):
        rates = [np.mean(np.array(v) >= th) for v in groups.values()]
        if max(rates) > MAX_FALSE_REFUSAL:
            break
        spec["threshold"] = th
    return spec


def _cv_probabilities(rows, cv_rows, names) -> list[float]:
    """P(unanswerable) of each ``cv_rows`` question from a model fitted without its fold."""
    from qa.answerability import Model

    rng = random.Random(SEED)
    order = list(range(len(cv_rows)))
    rng.shuffle(order)
    out = [0.0] * len(cv_rows)
    rest = [r for r in rows if r["role"] == "fit"]
    for k in range(CV_FOLDS):
        held = set(order[k::CV_FOLDS])
        model = Model(fit(rest + [r for i, r in enumerate(cv_rows) if i not in held], names))
        for i in held:
            out[i] = model.probability(cv_rows[i]["features"])
    return out


def report(rows: list[dict], spec: dict) -> list[dict]:
    """Per source: questions, unanswerable refused and answerable refused at the threshold, AUC."""
    from sklearn.metrics import roc_auc_score

    from qa.answerability import Model

    model, names = Model(spec), spec["features"]
    out = []
    for name in dict.fromkeys(r["source"] for r in rows):
        group = [r for r in rows if r["source"] == name and not r["overview"]]
        cv = group and group[0]["role"] == "cv"
        p = _cv_probabilities(rows, group, names) if cv else [model.probability(r["features"]) for r in group]
        y = [int(r["unanswerable"]) for r in group]
        un = [pi for pi, yi in zip(p, y) if yi]
        an = [pi for pi, yi in zip(p, y) if not yi]
        th = spec["threshold"]
        out.append({"source": name + (" (cv)" if cv else ""), "n": len(group), "p": p, "y": y,
                    "auc": roc_auc_score(y, p) if un and an else None,
                    "unanswerable_refused": sum(pi >= th for pi in un) / len(un) if un else None,
                    "answerable_refused": sum(pi >= th for pi in an) / len(an) if an else None})
    return out


def plot(table: list[dict], path: Path) -> None:
    """The trade-off curve per source: unanswerable refused against answerable refused, threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for t in table:
        if t["auc"] is None or "->" in t["source"]:
            continue
        pts = sorted(set(t["p"]), reverse=True)
        un = [sum(p >= th for p, y in zip(t["p"], t["y"]) if y) / max(1, sum(t["y"])) for th in pts]
        an = [sum(p >= th for p, y in zip(t["p"], t["y"]) if not y) / max(1, len(t["y"]) - sum(t["y"])) for th in pts]
        line, = ax.plot([0] + an, [0] + un, label=f"{t['source']} (AUC {t['auc']:.2f})")
        ax.plot([t["answerable_refused"]], [t["unanswerable_refused"]], "o", color=line.get_color())
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("answerable questions refused")
    ax.set_ylabel("unanswerable questions refused")
    ax.set_title("docqa answerability: trade-off per set (dot: the shipped threshold)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None, settings=None) -> int:
    """Collect features, fit, write the weights and the PNG, print the table."""
    import argparse

    from core.offline import enforce_offline

    enforce_offline()
    p = argparse.ArgumentParser(prog="docqa calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--out", type=Path, default=ROOT / "qa" / "answerability.json")
    p.add_argument("--png", type=Path, default=ROOT / "eval" / "answerability.png")
    p.add_argument("--cache", type=Path, help="where the dev indexes go (default: <index_dir>/calibrate)")
    p.add_argument("--rows", type=Path, help="also write every question's features here (JSON lines)")
    args = p.parse_args(argv)
    if settings is None:
        from core.settings import load_settings

        settings = load_settings()
    from core.errors import InputError
    from qa.answerability import FEATURES

    if not (args.datasets / "squad2-dev" / "fit.jsonl").is_file():
        raise InputError(f"no development sets under {args.datasets}; pass --datasets DIR (see eval/README.md)")
    rows = collect(settings, args.datasets, args.cache or Path(settings.index_dir) / "calibrate",
                   progress=lambda m: print(m, file=sys.stderr))
    if args.rows:
        args.rows.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = fit([r for r in rows if r["role"] in ("fit", "cv")], FEATURES)
    table = report(rows, spec)
    spec["fitted_on"] = {t["source"]: t["n"] for t in table if not t["source"].startswith(("squad2-eval", "casual"))}
    args.out.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    plot(table, args.png)
    print(f"{'source':28} {'n':>5} {'AUC':>5} {'unanswerable refused':>21} {'answerable refused':>19}")
    for t in table:
        cells = [f"{t[k]:.2f}" if t[k] is not None else "-" for k in ("auc", "unanswerable_refused",
                                                                     "answerable_refused")]
        print(f"{t['source']:28} {t['n']:>5} {cells[0]:>5} {cells[1]:>21} {cells[2]:>19}")
    print(f"threshold {spec['threshold']}; wrote {args.out} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
