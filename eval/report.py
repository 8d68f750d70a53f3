"""Render an eval result: a terminal table, report.json, report.md and a PNG chart."""
from __future__ import annotations

import json
from pathlib import Path

from .metrics import METRICS

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


def render_markdown(result) -> str:
    """report.md: settings, the table, the weakest questions, and warnings."""
    rows = table_rows(result)
    md = [f"# docqa eval: {result.meta.get('set')}", ""]
    meta = result.meta
    md.append(f"- questions: {result.overall['n']}, mode: {meta.get('mode')}, k: {meta.get('k')}, "
              f"index: {meta.get('index')}, model: {meta.get('model')}")
    md.append(f"- weakest type: {result.weakest_type or '-'}; errors: {meta.get('errors', 0)}")
    md += ["", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    md += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    md += ["", LEGEND, ""]
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


def write_reports(result, out_dir: Path) -> dict[str, Path]:
    """Write report.json, report.md and report.png into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md", "png": out_dir / "report.png"}
    paths["json"].write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    paths["md"].write_text(render_markdown(result), encoding="utf-8")
    write_chart(result, paths["png"])
    return paths
