"""Terminal rendering of an Answer: text with [n] markers, then the numbered sources."""
from __future__ import annotations

import textwrap


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=100, initial_indent=indent, subsequent_indent=indent)


def _source(c) -> str:
    return f"[{c.n}] {c.title or c.source} ({c.source}, chars {c.start}-{c.end})\n" + _wrap(f"\"{c.quote}\"", "    ")


def render_text(ans) -> str:
    """The answer as plain text for the terminal (``docqa ask`` without ``--json``)."""
    lines = [_wrap(ans.text, ""), ""]
    if ans.citations:
        lines.append("Sources:")
        lines += [_source(c) for c in ans.citations]
    if ans.refused and ans.related:
        lines.append("Related, but not an answer:")
        lines += [_source(c) for c in ans.related]
    if ans.flagged:
        lines.append("Removed (not supported by the cited passages):")
        lines += [_wrap(f"- {s}", "  ") for s in ans.flagged]
    if ans.note:
        lines.append(_wrap(f"note: {ans.note}", ""))
    total = ans.timings_ms.get("total") if ans.timings_ms else None
    lines.append(f"mode: {ans.mode}" + (f" · {total:.0f} ms" if total is not None else ""))
    return "\n".join(lines)
