"""Calibrate ``refusal_threshold`` on a labelled question set.

    python -m eval.calibrate eval/seed_qa.jsonl            # against the index of the current settings

For every question we run the answer pipeline up to the refusal decision with
the threshold switched off, keep the evidence score and whether a key-term rule
already refuses it, then sweep the threshold and pick the value maximising
(answerable questions answered + unanswerable questions refused). Ties go to
the top of the best plateau less a 0.05 margin, so the pick is not glued to one question.
"""
from __future__ import annotations

import sys

MARGIN = 0.05


def features(items, settings, embedder=None, store=None, k: int | None = None) -> list[dict]:
    """Per question: id, type, answerable, evidence score, rule-refusal reason ("" if none)."""
    from qa import refusal
    from qa.answer import clean_question, gather

    out = []
    for it in items:
        q, _ = clean_question(it.question)
        history = [dict(h) for h in it.history] or None
        ev = gather(q, history, settings, "extractive", k or settings.top_k, embedder, store)
        passages, ranked = ev.passages, ev.ranked
        d = refusal.assess(q, passages, ranked, float("-inf"))
        out.append({"id": it.id, "type": it.type, "answerable": not it.unanswerable,
                    "evidence": round(d.evidence, 4), "rule": d.reason if d.refuse else ""})
    return out


def sweep(rows: list[dict], lo: float = 0.0, hi: float = 0.8, step: float = 0.01) -> tuple[float, list[tuple]]:
    """(best threshold, [(threshold, correct, answerable answered, unanswerable refused)])."""
    table = []
    n = int(round((hi - lo) / step))
    for i in range(n + 1):
        t = round(lo + i * step, 4)
        answered = sum(1 for r in rows if r["answerable"] and not r["rule"] and r["evidence"] >= t)
        refused = sum(1 for r in rows if not r["answerable"] and (r["rule"] or r["evidence"] < t))
        table.append((t, answered + refused, answered, refused))
    best = max(row[1] for row in table)
    # The highest threshold with the best score, less a margin for answerable questions a
    # little weaker than any seen here (never below the lowest best-scoring threshold).
    plateau = [row[0] for row in table if row[1] == best]
    return round(max(plateau[0], plateau[-1] - MARGIN), 4), table


def main(argv: list[str] | None = None) -> int:
    """Print per-question features, the sweep and the chosen threshold."""
    from pathlib import Path

    from core.offline import enforce_offline

    enforce_offline()
    from core.settings import load_settings

    from eval.evalset import load_evalset

    argv = sys.argv[1:] if argv is None else argv
    items, warnings = load_evalset(Path(argv[0] if argv else "eval/seed_qa.jsonl"))
    rows = features(items, load_settings())
    for r in rows:
        print(f"{r['id']:6} {r['type']:12} answerable={int(r['answerable'])} evidence={r['evidence']:.3f} "
              f"{('rule: ' + r['rule']) if r['rule'] else ''}")
    best, table = sweep(rows)
    n_ans = sum(r["answerable"] for r in rows)
    print(f"\n{len(rows)} questions: {n_ans} answerable, {len(rows) - n_ans} unanswerable")
    print("threshold  correct  answered/answerable  refused/unanswerable")
    for t, correct, answered, refused in table[::5]:
        print(f"{t:9.2f}  {correct:7d}  {answered:5d}/{n_ans:<13d} {refused:5d}/{len(rows) - n_ans}")
    print(f"best threshold: {best:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
