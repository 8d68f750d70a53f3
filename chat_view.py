"""What the chat UI shows: answers as Markdown with clickable [n] links, the sources panel,
the saved-chats list, and which answer a thumbs up/down rates.

Document text is untrusted, so every piece of it is HTML-escaped (and
Markdown-escaped inside chat messages) before it reaches the page. A turn's
answer is kept as a plain dict (``turn_record``) in the UI's session state, so
clicking a marker in an older answer can still show that answer's passages.
Saved chats are plain dicts too ({id, title, updated, messages, turns}), kept
in the browser (``gr.BrowserState``), most recent first.
"""
from __future__ import annotations

import dataclasses
import html
import re
import time
import uuid
from pathlib import Path

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$])")
_MARKER = re.compile(r"\\\[(\d+)\\\]")
_LINK = re.compile(r'<a href="#docqa-cite-\d+-\d+"[^>]*>\[(\d+)\]</a>')
_META = re.compile(r'\s*<span class="docqa-meta">.*?</span>\s*$', re.S)
ERROR_TAG = '<span class="docqa-error">'
TITLE_CHARS = 60  # a saved chat's title: its first question, cut here
# localStorage allows ~5 MB a site, and Gradio stores the chats encrypted (base64: +33%): the oldest
# chats are dropped beyond this many characters of JSON.
MAX_SAVED_CHARS = 1_500_000
SECRET_FILE = "ui_secret"

CSS = """
#docqa-sources { max-height: 640px; overflow-y: auto; }
.docqa-sources { font-size: 0.92rem; }
.docqa-src-head { font-weight: 600; margin: 0 0 .6rem 0; }
.docqa-src-head.docqa-refused { color: #9a3412; }
.docqa-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .6rem .75rem;
              margin-bottom: .6rem; background: var(--block-background-fill); }
.docqa-card.docqa-related { border-style: dashed; opacity: .9; }
.docqa-card.docqa-focus { border: 2px solid var(--color-accent); box-shadow: 0 0 0 3px var(--color-accent-soft); }
.docqa-card-title { font-weight: 600; }
.docqa-tag { font-size: .72rem; font-weight: 500; color: #9a3412; border: 1px solid #fdba74; border-radius: 4px;
             padding: 0 .3em; white-space: nowrap; }
.docqa-n { color: var(--color-accent); }
.docqa-file { font-family: var(--font-mono); font-size: .8rem; color: var(--body-text-color-subdued); }
.docqa-context { margin-top: .35rem; line-height: 1.45; white-space: pre-wrap; }
.docqa-context mark { background: #fde68a; color: #111; padding: 0 .1em; border-radius: 2px; }
.docqa-empty { color: var(--body-text-color-subdued); }
a.docqa-cite { font-weight: 600; color: var(--color-accent); text-decoration: none; cursor: pointer; }
.docqa-meta { font-size: .78rem; color: var(--body-text-color-subdued); }
#docqa-chats label { font-size: .85rem; }
#docqa-fb-note { font-size: .85rem; color: var(--body-text-color-subdued); min-height: 1.2em; }
"""
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


# Clicking an [n] link in an answer sends "turn:n" to the server, which re-renders the sources panel.
CITE_JS = """
() => {
  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a[href^="#docqa-cite-"]');
    if (!a) return;
    e.preventDefault(); e.stopPropagation();
    const [turn, n] = a.getAttribute('href').slice('#docqa-cite-'.length).split('-');
    const box = document.querySelector('#docqa-cite-sel textarea, #docqa-cite-sel input');
    if (!box) return;
    box.value = turn + ':' + n + ':' + Date.now();
    box.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => document.querySelector('#docqa-cite-go').click(), 0);
  }, true);
}
"""


# -- feedback: which answer a thumb rates ------------------------------------------
def _text(m) -> str:
    content = m.get("content") if isinstance(m, dict) else None
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


RATED_FIELDS = ("question", "history", "answer", "citations", "mode", "k", "refused")  # what a rating stores


def rated_answer(messages: list, turns: list, index) -> dict | None:
    """The answer at chat message ``index`` as ``eval.feedback.record_feedback`` takes it (RATED_FIELDS).

    Answers and ``turns`` are in step: every assistant message that is not an error message
    has one turn record. None for a user message, an error message or a placeholder.
    """
    if isinstance(index, (list, tuple)):
        index = index[0]
    if not isinstance(index, int) or not 0 <= index < len(messages or []):
        return None
    m = messages[index]
    if m.get("role") != "assistant" or _text(m).startswith(ERROR_TAG) or "docqa-meta" not in _text(m):
        return None
    turn = sum(1 for x in messages[:index] if x.get("role") == "assistant" and not _text(x).startswith(ERROR_TAG))
    if turn >= len(turns or []):
        return None
    asked = max((i for i in range(index) if messages[i].get("role") == "user"), default=0)
    rec = turns[turn]
    return {"question": rec["question"], "history": plain_history(messages[:asked]), "answer": rec["text"],
            "citations": rec["citations"], "mode": rec["mode"], "k": rec.get("k"), "refused": rec["refused"]}


def feedback_note(rec: dict) -> str:
    """The line shown after a thumb: what was stored, and where."""
    q = html.escape(rec["question"][:80])
    if rec["rating"] == "none":
        return f"Rating taken back for “{q}”."
    thumb = "Thumbs up" if rec["rating"] == "up" else "Thumbs down"
    said = " with your comment" if rec.get("comment") else "; add a comment above if you like"
    return f"{thumb} saved for “{q}”{said} (kept on this server only, in feedback.jsonl)."


# -- saved chats -------------------------------------------------------------------
def chat_title(messages: list) -> str:
    """A chat's title: its first question, shortened."""
    first = next((" ".join(_text(m).split()) for m in messages or [] if m.get("role") == "user"), "")
    first = first or "(empty chat)"
    return first if len(first) <= TITLE_CHARS else first[:TITLE_CHARS - 1].rstrip() + "…"


def save_chat(saved: list | None, chat_id: str, messages: list, turns: list) -> tuple[list, str]:
    """(saved chats, id) with the current chat stored first; a new chat gets an id. Oldest dropped beyond
    MAX_SAVED_CHARS. A chat with no message is not saved."""
    import json

    saved = [c for c in (saved or []) if isinstance(c, dict) and c.get("id")]
    if not messages:
        return saved, chat_id
    chat_id = chat_id or uuid.uuid4().hex[:12]
    msgs = [{"role": m.get("role"), "content": _text(m)} for m in messages if m.get("role") in ("user", "assistant")]
    chat = {"id": chat_id, "title": chat_title(msgs), "updated": time.time(), "messages": msgs,
            "turns": list(turns or [])}
    saved = [chat] + [c for c in saved if c["id"] != chat_id]
    while len(saved) > 1 and len(json.dumps(saved, ensure_ascii=False)) > MAX_SAVED_CHARS:
        saved.pop()
    return saved, chat_id


def find_chat(saved: list | None, chat_id: str) -> dict | None:
    """The saved chat with this id, or None."""
    return next((c for c in saved or [] if isinstance(c, dict) and c.get("id") == chat_id), None)


def delete_chat(saved: list | None, chat_id: str) -> list:
    """The saved chats without this one."""
    return [c for c in saved or [] if isinstance(c, dict) and c.get("id") and c["id"] != chat_id]


def chat_choices(saved: list | None) -> list[tuple[str, str]]:
    """(label, id) of every saved chat, most recent first, for the chat list."""
    out = []
    for c in saved or []:
        if isinstance(c, dict) and c.get("id"):
            when = time.strftime("%d %b %H:%M", time.localtime(c.get("updated") or 0))
            out.append((f"{c.get('title') or '(untitled)'} · {when}", c["id"]))
    return out


def chat_view_of(chat: dict | None) -> tuple[list, list, str, str]:
    """(messages, turns, id, sources panel) to show a saved chat, or an empty new chat for None."""
    if not chat:
        return [], [], "", EMPTY_SOURCES
    turns = list(chat.get("turns") or [])
    return list(chat.get("messages") or []), turns, chat["id"], sources_html(turns[-1] if turns else None)


def browser_secret(settings) -> str:
    """The key Gradio obfuscates saved chats with in the browser, kept in ``index_dir`` so chats
    saved before a server restart still open after it."""
    import secrets

    path = Path(settings.index_dir) / SECRET_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        pass
    key = secrets.token_urlsafe(24)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:  # "x": two servers starting at once keep one key
            f.write(key)
        path.chmod(0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        pass  # a read-only index folder: chats last until the server restarts
    return key
