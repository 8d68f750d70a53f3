"""Turn a raw web article into clean text a reader would agree with.

``clean_text`` unwraps JSON-like wrappers and literal ``\\n`` escapes, strips
web boilerplate, drops repeated paragraphs, normalises whitespace and derives
a title. Words, punctuation and curly quotes of the article stay unchanged.
Paragraphs are joined by a blank line; every offset later points into this text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.text import is_heading

VERSION = "1"  # bump when cleaning keeps or drops different text (part of the index fingerprint)
# A line equal to one of these (case-insensitive) is page chrome, not article.
BOILERPLATE = {
    "leave a comment", "leave a reply", "post navigation", "back to top", "more reading",
    "comments", "comment", "related posts", "related articles", "share this:", "share this",
    "like this:", "you may also like", "read more", "advertisement", "cancel reply",
    "your email address will not be published. required fields are marked *",
    "your email address will not be published.", "required fields are marked *",
    "if you like this post you might also like these", "save my name, email, and website in "
    "this browser for the next time i comment.", "post comment", "name *", "email *", "website",
    "skip to content", "previous post", "next post", "table of contents",
}
# After one of these markers, a run of short lines to the end is a comment form / footer.
TAIL_MARKERS = {"leave a comment", "leave a reply", "post navigation", "more reading", "comments"}
_JSON_KEY = re.compile(r'^\s*\{?\s*[“"](title|content|body|text|description)[”"]\s*:\s*[“"]?(.*?)[”"]?\s*,?\s*$')
_JSON_INLINE = re.compile(r'^\s*\{\s*[“"]title[”"]\s*:\s*[“"](?P<title>.*?)[”"]\s*,\s*[“"]content[”"]\s*:\s*[“"](?P<rest>.*)$')
TAIL_LINE_MAX = 120  # characters; a comment form or footer is short lines only
TRUNCATED_MIN = 40  # characters; a shorter line that starts a longer one is a lead-in, not a repeat
_ONLY_MARKUP = re.compile(r"^[\s{}\[\],:;•·*\-–—\"“”]*$")
_BULLET = re.compile(r"^[•·▪◦*]\s+")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Cleaned:
    """Clean text, its title, and what was removed (for tests and `docqa show --removed`)."""

    text: str
    title: str
    removed: tuple[str, ...] = field(default=())


def _norm(line: str) -> str:
    return _SPACES.sub(" ", _INVISIBLE.sub("", line)).strip()


def _unescape(raw: str) -> str:
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    # Literal escapes left by a JSON export: "\n" as two characters.
    raw = re.sub(r"(?<!\\)\\[nr]", "\n", raw)
    raw = raw.replace("\\t", " ").replace('\\"', '"').replace("\\u2019", "’")
    return raw


def _key(line: str) -> str:
    return re.sub(r"\W+", " ", line.lower()).strip()


def _lines(raw: str, removed: list[str]) -> tuple[list[str], str]:
    """Non-empty normalised lines with JSON wrappers and markup-only lines removed; (lines, JSON title)."""
    json_title = ""
    lines: list[str] = []
    for line in _unescape(raw).split("\n"):
        line = _norm(line)
        if not line:
            continue
        m = _JSON_INLINE.match(line)
        if m:
            json_title = json_title or m.group("title").strip()
            removed.append(line[: line.find(m.group("rest"))].strip())
            line = m.group("rest").strip().rstrip('"”').strip()
            if not line:
                continue
        m = _JSON_KEY.match(line)
        if m:
            removed.append(line)
            if m.group(1) == "title":
                json_title = json_title or m.group(2).strip()
                continue
            line = m.group(2).strip()
            if not line:
                continue
        if _ONLY_MARKUP.match(line):
            removed.append(line)
            continue
        lines.append(_BULLET.sub("• ", line))
    return lines, json_title


def _drop_boilerplate(lines: list[str], removed: list[str]) -> list[str]:
    """Boilerplate lines, and a trailing comment form / footer after a marker."""
    # short_tail[i]: every line from i on is short (a form or footer, not article text).
    short_tail = [True] * (len(lines) + 1)
    for i in range(len(lines) - 1, -1, -1):
        short_tail[i] = short_tail[i + 1] and len(lines[i]) < TAIL_LINE_MAX
    kept: list[str] = []
    for i, line in enumerate(lines):
        low = line.lower().rstrip(":").strip() if line.lower() not in BOILERPLATE else line.lower()
        if line.lower() in BOILERPLATE or low in BOILERPLATE:
            removed.append(line)
            if low in TAIL_MARKERS and short_tail[i + 1]:
                removed.extend(lines[i + 1:])
                break
            continue
        kept.append(line)
    return kept


def _drop_repeats(lines: list[str], removed: list[str]) -> list[str]:
    """Exact repeats, and truncated repeats (a paragraph that is the start of a longer one).

    In sorted order, the keys that start with a key follow it directly, so one look at the
    next larger key finds a longer one: O(n log n), not a comparison of every pair.
    """
    keys = [_key(x) for x in lines]
    ordered = sorted(set(keys))
    at = {k: i for i, k in enumerate(ordered)}
    out: list[str] = []
    seen: set[str] = set()
    for line, k in zip(lines, keys):
        nxt = ordered[at[k] + 1] if at[k] + 1 < len(ordered) else ""
        if k in seen or (len(k) >= TRUNCATED_MIN and nxt.startswith(k)):
            removed.append(line)
            continue
        seen.add(k)
        out.append(line)
    return out


def _title(lines: list[str], json_title: str, fallback: str) -> str:
    """A heading among the first two lines, else the JSON title, else the first sentence, cut."""
    for line in lines[:2]:
        if is_heading(line):
            return line
    if json_title:
        return json_title
    if lines:
        first = re.split(r"(?<=[.!?])\s", lines[0], maxsplit=1)[0]
        return first if len(first) <= 90 else first[:87].rsplit(" ", 1)[0] + "…"
    return fallback


def clean_text(raw: str, fallback_title: str = "") -> Cleaned:
    """Clean one document's raw text; see the module docstring for the rules."""
    removed: list[str] = []
    lines, json_title = _lines(raw, removed)
    out = _drop_repeats(_drop_boilerplate(lines, removed), removed)
    return Cleaned(text="\n\n".join(out), title=_title(out, json_title, "") or fallback_title,
                   removed=tuple(removed))
