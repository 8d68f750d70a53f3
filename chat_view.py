"""What the chat UI shows: answers as Markdown with clickable [n] links, and the sources panel.

Document text is untrusted, so every piece of it is HTML-escaped (and
Markdown-escaped inside chat messages) before it reaches the page. A turn's
answer is kept as a plain dict (``turn_record``) in the UI's session state, so
clicking a marker in an older answer can still show that answer's passages.
"""
from __future__ import annotations

import dataclasses
import html
import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$])")
_MARKER = re.compile(r"\\\[(\d+)\\\]")
_LINK = re.compile(r'<a href="#docqa-cite-\d+-\d+"[^>]*>\[(\d+)\]</a>')
_META = re.compile(r'\s*<span class="docqa-meta">.*?</span>\s*$', re.S)
ERROR_TAG = '<span class="docqa-error">'
EMPTY_SOURCES = ('<div class="docqa-sources docqa-empty">Sources appear here. Click a <b>[n]</b> marker in an '
                 'answer to see the passage it comes from.</div>')


def turn_record(ans, k: int | None = None) -> dict:
    """A JSON-able summary of an ``Answer`` for the UI's state and the sources panel."""
    return {
        "question": ans.question, "text": ans.text, "refused": ans.refused, "mode": ans.mode,
        "note": ans.note, "k": k, "ms": round(ans.timings_ms.get("total") or sum(ans.timings_ms.values() or [0])),
        "citations": [dataclasses.asdict(c) for c in ans.citations],
        "related": [dataclasses.asdict(c) for c in ans.related],
    }


def _escape_md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def answer_markdown(text: str, turn: int, valid: set[int]) -> str:
    """The answer text, escaped, with each [n] of a real citation turned into a link to its source."""
    def link(m):
        n = int(m.group(1))
        if n not in valid:
            return m.group(0)
        return f'<a href="#docqa-cite-{turn}-{n}" class="docqa-cite" title="show source {n}">[{n}]</a>'

    return _MARKER.sub(link, _escape_md(text))


def meta_line(rec: dict) -> str:
    """The line under every answer: mode, top-k, time, and any note (e.g. an LLM fallback)."""
    parts = [f"mode: {rec['mode']}"]
    if rec.get("k"):
        parts.append(f"top-k {rec['k']}")
    if rec.get("ms"):
        parts.append(f"{rec['ms']} ms" if rec["ms"] < 1000 else f"{rec['ms'] / 1000:.1f} s")
    if rec.get("note"):
        parts.append(html.escape(rec["note"]))
    return '<span class="docqa-meta">' + " · ".join(p for p in parts if p) + "</span>"


def answer_steps(rec: dict, turn: int, words_per_step: int = 4):
    """Progressively longer renderings of an answer (for streaming), the last one complete."""
    valid = {c["n"] for c in rec["citations"]}
    words = rec["text"].split(" ")
    for i in range(words_per_step, len(words), words_per_step):
        yield answer_markdown(" ".join(words[:i]), turn, valid) + " …"
    body = answer_markdown(rec["text"], turn, valid)
    if rec["refused"] and rec["related"]:
        body += "\n\n*Related passages (not an answer) are listed under Sources.*"
    yield body + "\n\n" + meta_line(rec)


def error_markdown(message: str) -> str:
    """An error shown in the chat as a message, never a traceback."""
    return f"{ERROR_TAG}⚠️ {_escape_md(message)}</span>"


def plain_history(messages: list) -> list[dict]:
    """Chatbot messages -> [{"role", "content"}] plain text for ``qa.answer``; failed turns dropped."""
    out: list[dict] = []
    for m in messages or []:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str) or m.get("role") not in ("user", "assistant"):
            continue
        if m["role"] == "assistant":
            if content.startswith(ERROR_TAG):
                if out and out[-1]["role"] == "user":
                    out.pop()
                continue
            content = _META.sub("", _LINK.sub(r"[\1]", content))
            content = content.split("\n\n*Related passages")[0]
            content = html.unescape(re.sub(r"\\(.)", r"\1", content))
        out.append({"role": m["role"], "content": content.strip()})
    return out


def _card(c: dict, cls: str) -> str:
    context, quote = c.get("context") or "", c.get("quote") or ""
    at = c.get("start", 0) - c.get("context_start", 0)
    if not (0 <= at and context[at:at + len(quote)] == quote):
        at = context.find(quote) if quote else -1
    if at >= 0 and quote:
        body = (html.escape(context[:at]) + "<mark>" + html.escape(quote) + "</mark>"
                + html.escape(context[at + len(quote):]))
    else:  # no context stored: show the quote alone
        body = "<mark>" + html.escape(quote) + "</mark>"
    return (f'<div class="docqa-card {cls}" id="docqa-src-{c["n"]}" data-n="{c["n"]}">'
            f'<div class="docqa-card-title"><span class="docqa-n">[{c["n"]}]</span> '
            f'{html.escape(c.get("title") or "")}'
            + (' <span class="docqa-tag">related, not an answer</span>' if "docqa-related" in cls else "")
            + '</div>'
            f'<div class="docqa-file">{html.escape(c.get("source") or "")}</div>'
            f'<div class="docqa-context">{body}</div></div>')


def sources_html(rec: dict | None, focus: int | None = None) -> str:
    """The sources panel for one answer; ``focus`` puts passage [n] first and outlines it."""
    if not rec:
        return EMPTY_SOURCES
    q = html.escape(rec["question"])
    if rec["refused"]:
        cards = rec["related"]
        head = (f'<div class="docqa-src-head docqa-refused">No answer in the documents for “{q}”.'
                + (" Related passages, <b>not an answer</b>:" if cards else "") + "</div>")
        cls = "docqa-related"
    else:
        cards = rec["citations"]
        head = f'<div class="docqa-src-head">Sources for “{q}” · mode: {html.escape(rec["mode"])}</div>'
        cls = "docqa-cited"
    cards = sorted(cards, key=lambda c: (c["n"] != focus, c["n"]))
    body = "".join(_card(c, cls + (" docqa-focus" if c["n"] == focus else "")) for c in cards)
    return f'<div class="docqa-sources">{head}{body}</div>'
