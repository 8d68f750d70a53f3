"""Render an eval result: a terminal table, report.json, report.md and a PNG chart, and its
comparison with an earlier run's report.json (``--baseline``)."""
from __future__ import annotations

import json
from pathlib import Path

from core.errors import InputError

from .metrics import LOWER_IS_BETTER, METRICS

# Short column headers for the terminal / markdown table.
HEADERS = {
    "n": "n", "hit@k": "hit@k", "mrr": "mrr", "evidence_recall": "ev_rec", "key_fact_recall": "facts",
    "containment": "contain", "citation_validity": "cite_ok", "citation_precision": "cite_prec",
    "refusal_rate": "refuse", "false_refusal_rate": "false_ref", "latency_p50_ms": "p50_ms",
    "latency_p95_ms": "p95_ms", "quality": "quality",
}
COLUMNS = ("n",) + METRICS + ("quality",)
LEGEND = ("hit@k/mrr: a top-k chunk holds the evidence; ev_rec: share of evidence strings retrieved; "
          "facts: key-fact recall; contain: short gold answer in the answer; cite_ok: quote found at its "
          "offsets; cite_prec: cited quote holds evidence; refuse: unanswerable refused; false_ref: "
          "answerable refused (lower is better); quality: mean of hit@k, facts, contain, cite_prec, refuse "
          "and 1-false_ref; '-' = not defined for these questions")


def _fmt(name: str, value) -> str:
    if value is None:
        return "-"
    if name == "n":
        return str(value)
    if name.startswith("latency"):
        return f"{value:.0f}"
    return f"{value:.2f}"


def table_rows(result) -> list[list[str]]:
    """Header + one row per type + overall, as strings."""
    rows = [["type"] + [HEADERS[c] for c in COLUMNS]]
    for t, m in result.by_type.items():
        rows.append([t] + [_fmt(c, m.get(c)) for c in COLUMNS])
    rows.append(["OVERALL"] + [_fmt(c, result.overall.get(c)) for c in COLUMNS])
    return rows


def render_table(result) -> str:
    """The summary table printed on the terminal."""
    rows = table_rows(result)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append("  ".join(cells))
        if j == 0 or j == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(result, comparison: dict | None = None) -> str:
    """report.md: settings, the table, the comparison with a baseline, the weakest questions, and warnings."""
    rows = table_rows(result)
    md = [f"# docqa eval: {result.meta.get('set')}", ""]
    meta = result.meta
    md.append(f"- questions: {result.overall['n']}, mode: {meta.get('mode')}, k: {meta.get('k')}, "
              f"index: {meta.get('index')}, model: {meta.get('model')}")
    md.append(f"- weakest type: {result.weakest_type or '-'}; errors: {meta.get('errors', 0)}")
    md += ["", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    md += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    md += ["", LEGEND, ""]
    if comparison:
        md += comparison_markdown(comparison)
    misses = [r for r in result.rows if _row_failed(r)]
    if misses:
        md += ["## Questions that missed", "", "| id | type | question | what missed | answer |", "|---|---|---|---|---|"]
        for r in misses:
            ans = (r["answer"] or "").replace("\n", " ").replace("|", "\\|")
            q = r["question"].replace("|", "\\|")
            md.append(f"| {r['id']} | {r['type']} | {q} | {', '.join(_row_misses(r))} | "
                      f"{ans[:160] + ('…' if len(ans) > 160 else '')} |")
        md.append("")
    if meta.get("warnings"):
        md += ["## Warnings", ""] + [f"- {w}" for w in meta["warnings"]] + [""]
    return "\n".join(md)


def _row_misses(r: dict) -> list[str]:
    out = [f"{k}={v:.2f}" for k, v in r["scores"].items() if v is not None and v < 1.0]
    if r["unanswerable"] and not r["refused"]:
        out.append("not refused")
    if not r["unanswerable"] and r["refused"]:
        out.append("wrongly refused")
    if r.get("error"):
        out.append(f"error: {r['error']}")
    return out


def _row_failed(r: dict) -> bool:
    return bool(_row_misses(r))


def write_chart(result, path: Path) -> Path:
    """A PNG: per-type scores (grouped bars) and a latency histogram."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    metrics = ["hit@k", "mrr", "key_fact_recall", "citation_precision", "refusal_rate", "false_refusal_rate"]
    types = list(result.by_type) + ["OVERALL"]
    data = {**result.by_type, "OVERALL": result.overall}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(metrics)
    for i, m in enumerate(metrics):
        vals = [data[t].get(m) for t in types]
        xs = [j + (i - len(metrics) / 2 + 0.5) * width for j in range(len(types))]
        ax1.bar(xs, [v if v is not None else 0 for v in vals], width, label=m)
        for x, v in zip(xs, vals):
            if v is None:  # undefined, not zero: mark it
                ax1.text(x, 0.01, "–", ha="center", va="bottom", fontsize=7, color="grey")
    ax1.set_xticks(range(len(types)), types, rotation=25, ha="right")
    ax1.set_ylim(0, 1.05)
    ax1.set_ylabel("score")
    ax1.set_title(f"per-type scores (mode {result.meta.get('mode')}, k={result.meta.get('k')})")
    ax1.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    lat = [r["latency_ms"] for r in result.rows if r.get("latency_ms") is not None]
    ax2.hist(lat, bins=min(20, max(5, len(lat) // 3)) if lat else 5, color="tab:gray")
    p50, p95 = result.overall.get("latency_p50_ms"), result.overall.get("latency_p95_ms")
    for v, label, style in ((p50, "p50", "--"), (p95, "p95", ":")):
        if v is not None:
            ax2.axvline(v, color="k", linestyle=style, label=f"{label} {v:.0f} ms")
    ax2.set_xlabel("answer latency (ms)")
    ax2.set_ylabel("questions")
    ax2.yaxis.get_major_locator().set_params(integer=True)
    ax2.set_title("latency")
    if lat:
        ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_reports(result, out_dir: Path, comparison: dict | None = None) -> dict[str, Path]:
    """Write report.json, report.md and report.png into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md", "png": out_dir / "report.png"}
    data = result.to_json()
    if comparison:
        data["comparison"] = comparison
    paths["json"].write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    paths["md"].write_text(render_markdown(result, comparison), encoding="utf-8")
    write_chart(result, paths["png"])
    return paths


# -- comparison with a baseline run ---------------------------------------------
def load_baseline(path: Path) -> dict:
    """An earlier run's report.json (``path`` may be the folder holding it); InputError if unusable."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"baseline {path} not found; pass the report.json of an earlier `docqa eval --out DIR`") \
            from None
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read baseline {path}: {e}; expected a report.json written by `docqa eval --out`") \
            from None
    if not isinstance(data, dict) or not isinstance(data.get("overall"), dict) \
            or not isinstance(data.get("questions"), list):
        raise InputError(f"baseline {path} is not a docqa eval report.json (no \"overall\" and \"questions\")")
    data["path"] = str(path)
    return data


def _outcome(row: dict) -> str:
    return "error" if row.get("error") else ("refused" if row.get("refused") else "answered")


def _hit(row: dict) -> str | None:
    v = (row.get("scores") or {}).get("hit@k")
    return None if v is None else ("hit" if v >= 1.0 else "miss")


def flipped_questions(rows: list[dict], base_rows: list[dict]) -> list[dict]:
    """Questions (matched by id) whose outcome changed: answered <-> refused (or error), hit <-> miss on hit@k.

    Each flip says whether it is better or worse: refusing an unanswerable question is right,
    refusing an answerable one wrong; a hit beats a miss; an error is always worse.
    """
    base = {str(r.get("id")): r for r in base_rows if isinstance(r, dict)}
    out = []
    for r in rows:
        old = base.get(str(r["id"]))
        if old is None:
            continue
        was, now = _outcome(old), _outcome(r)
        if was != now:
            good = "refused" if r.get("unanswerable") else "answered"
            out.append({"id": r["id"], "question": r["question"], "what": "outcome", "change": f"{was} -> {now}",
                        "better": now == good})
        h_was, h_now = _hit(old), _hit(r)
        if h_was and h_now and h_was != h_now:
            out.append({"id": r["id"], "question": r["question"], "what": "hit@k", "change": f"{h_was} -> {h_now}",
                        "better": h_now == "hit"})
    return out


def compare(result, baseline: dict) -> dict:
    """Each overall metric beside the baseline's, with the difference, and the flipped questions."""
    base_overall = baseline.get("overall") or {}
    metrics = []
    for name in METRICS + ("quality",):
        now, old = result.overall.get(name), base_overall.get(name)
        diff = None if now is None or old is None else now - old
        metrics.append({"metric": name, "baseline": old, "now": now, "diff": diff,
                        "lower_is_better": name in LOWER_IS_BETTER})
    ids_now = {str(r["id"]) for r in result.rows}
    ids_base = {str(r.get("id")) for r in baseline["questions"] if isinstance(r, dict)}
    bmeta = baseline.get("meta") or {}
    return {"baseline": baseline.get("path"), "baseline_meta": {k: bmeta.get(k) for k in ("set", "k", "mode", "model")},
            "metrics": metrics, "flipped": flipped_questions(result.rows, baseline["questions"]),
            "only_now": len(ids_now - ids_base), "only_baseline": len(ids_base - ids_now)}


def _num(name: str, v) -> str:
    return "-" if v is None else (f"{v:.0f}" if name.startswith("latency") else f"{v:.3f}")


def _diff(name: str, v) -> str:
    if v is None:
        return "-"
    return f"{v:+.0f}" if name.startswith("latency") else f"{v:+.3f}"


def _settings_line(comparison: dict, meta: dict) -> str:
    b = comparison["baseline_meta"]
    return (f"baseline {comparison['baseline']} (set {b.get('set')}, k={b.get('k')}, mode {b.get('mode')}); "
            f"this run: set {meta.get('set')}, k={meta.get('k')}, mode {meta.get('mode')}")


def _flip_summary(flips: list[dict]) -> str:
    worse = sum(not f["better"] for f in flips)
    n = len({f["id"] for f in flips})
    return f"{n} flipped ({len(flips)} changes: {len(flips) - worse} better, {worse} worse)"


def render_comparison(comparison: dict, meta: dict) -> str:
    """The terminal block: metric, baseline, now, difference; then the flipped questions."""
    rows = [("metric", "baseline", "now", "diff")]
    rows += [(m["metric"] + (" (lower is better)" if m["lower_is_better"] else ""), _num(m["metric"], m["baseline"]),
              _num(m["metric"], m["now"]), _diff(m["metric"], m["diff"])) for m in comparison["metrics"]]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["", "compared with " + _settings_line(comparison, meta)]
    lines += ["  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]) for r in rows]
    flips = comparison["flipped"]
    lines.append(f"questions: {_flip_summary(flips)}" + (":" if flips else ""))
    for f in flips:
        lines.append(f"  {f['id']}  {f['change']:<22} {'better' if f['better'] else 'WORSE ':<6}  {f['question'][:90]}")
    if comparison["only_now"] or comparison["only_baseline"]:
        lines.append(f"not compared: {comparison['only_now']} question(s) only in this run, "
                     f"{comparison['only_baseline']} only in the baseline")
    return "\n".join(lines)


def comparison_markdown(comparison: dict) -> list[str]:
    """The report.md section "Compared with the baseline"."""
    md = ["## Compared with the baseline", "", f"- {comparison['baseline']} (set {comparison['baseline_meta'].get('set')}, "
          f"k={comparison['baseline_meta'].get('k')}, mode {comparison['baseline_meta'].get('mode')})", "",
          "| metric | baseline | now | diff |", "|---|---|---|---|"]
    for m in comparison["metrics"]:
        name = m["metric"] + (" (lower is better)" if m["lower_is_better"] else "")
        md.append(f"| {name} | {_num(m['metric'], m['baseline'])} | {_num(m['metric'], m['now'])} | "
                  f"{_diff(m['metric'], m['diff'])} |")
    flips = comparison["flipped"]
    md += ["", f"Questions: {_flip_summary(flips)}.", ""]
    if flips:
        md += ["| id | change | | question |", "|---|---|---|---|"]
        md += [f"| {f['id']} | {f['change']} | {'better' if f['better'] else '**worse**'} | "
               f"{f['question'].replace('|', chr(92) + '|')} |" for f in flips]
        md.append("")
    return md
