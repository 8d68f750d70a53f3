"""User feedback on answers (thumbs up/down, optional comment), stored append-only, exported as eval lines.

Records go to ``index_dir/feedback.jsonl``, one JSON object a line, appended under a
lock (threads and processes), and never leave the machine. A record is keyed by its
answer (``id``: question + history + answer text), so rating the same answer again, or
adding a comment, appends a newer record that supersedes the older one when read.
``export_evalset`` turns the latest record of each answer into ``docqa eval`` lines:
thumbs-up -> a question whose evidence is the cited quotes; thumbs-down -> a line flagged
``"review": true`` with the comment, for a person to complete.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from pathlib import Path

from core.errors import InputError

FILE_NAME = "feedback.jsonl"
RATINGS = {"up": "up", "like": "up", "👍": "up", "true": "up", "1": "up", "+1": "up",
           "down": "down", "dislike": "down", "👎": "down", "false": "down", "-1": "down",
           "none": "none", "": "none"}  # "none": a thumb taken back
MAX_TEXT = 20_000  # characters kept of any one field: a record is a line, not a dump
MAX_COMMENT = 2_000
_MARKER = re.compile(r"\s*\[\d+\]")
_LOCK = threading.Lock()


def feedback_path(settings) -> Path:
    """Where the feedback of this index is kept."""
    return Path(settings.index_dir) / FILE_NAME


def settings_fingerprint(settings, mode: str | None = None, k: int | None = None) -> str:
    """A short hash of the settings that shape an answer, so feedback can be matched to the setup that earned it."""
    mode = mode or settings.mode
    parts = {"model": Path(settings.model_path).name, "top_k": int(k or settings.top_k), "mode": mode,
             "chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
             "refusal_threshold": settings.refusal_threshold, "answer_sentences": settings.answer_sentences}
    if mode == "llm":
        parts.update(llm_provider=settings.llm_provider, llm_model=settings.llm_model)
    blob = json.dumps(parts, sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def _rating(value) -> str:
    key = str(value).strip().lower() if value is not None else "none"
    if key not in RATINGS:
        raise InputError(f"rating must be up or down (or like/dislike), not {str(value)[:40]!r}")
    return RATINGS[key]


def _history(history) -> list[dict]:
    out = []
    for h in history or []:
        if isinstance(h, dict) and h.get("role") in ("user", "assistant") and isinstance(h.get("content"), str):
            out.append({"role": h["role"], "content": h["content"][:MAX_TEXT]})
    return out


def _citation(c) -> dict | None:
    if not isinstance(c, dict) or not isinstance(c.get("quote"), str) or not c["quote"].strip():
        return None
    keep = {k: c.get(k) for k in ("n", "source", "title", "quote", "start", "end")}
    keep["quote"] = keep["quote"][:MAX_TEXT]
    return keep


def answer_id(question: str, history: list[dict], answer: str) -> str:
    """The id of one answer to one question in one conversation."""
    blob = json.dumps([question, history, answer], ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def record_feedback(settings, question: str, history, answer: str, citations, mode: str, rating,
                    comment: str = "", k: int | None = None, refused: bool | None = None) -> dict:
    """Append one feedback record to ``index_dir/feedback.jsonl`` and return it.

    ``rating``: up/down (like/dislike, True/False, 👍/👎), or none to take a thumb back.
    Raises InputError for a missing question or answer, or an unknown rating.
    """
    question = (question or "").strip() if isinstance(question, str) else ""
    answer = answer.strip() if isinstance(answer, str) else ""
    if not question or not answer:
        raise InputError("feedback needs the question and the answer it rates")
    if mode not in ("extractive", "llm"):
        mode = settings.mode
    history = _history(history)
    cites = [c for c in (_citation(c) for c in (citations or [])) if c]
    if refused is None:
        from qa.answer import REFUSAL_TEXT

        refused = answer.startswith(REFUSAL_TEXT[:30])
    rec = {"id": answer_id(question[:MAX_TEXT], history, answer[:MAX_TEXT]), "time": round(time.time(), 3),
           "rating": _rating(rating), "comment": (comment or "").strip()[:MAX_COMMENT],
           "question": question[:MAX_TEXT], "history": history, "answer": answer[:MAX_TEXT], "refused": bool(refused),
           "citations": cites, "mode": mode, "k": int(k or settings.top_k),
           "settings": settings_fingerprint(settings, mode, k)}
    _append(feedback_path(settings), rec)
    return rec


def _append(path: Path, rec: dict) -> None:
    """One line, written whole: a thread lock and a file lock, then one write and an fsync."""
    import os

    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(rec, ensure_ascii=False) + "\n"
    with _LOCK, FileLock(str(path) + ".lock", timeout=30):
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def load_feedback(path: Path) -> tuple[list[dict], list[str]]:
    """The latest record of each answer (file order), and warnings for unreadable lines."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no feedback yet at {path}; rate answers in the chat UI (thumbs up/down) first")
    latest: dict[str, dict] = {}
    warnings = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            rid, q = rec["id"], rec["question"]
            if not isinstance(rid, str) or not isinstance(q, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            warnings.append(f"{path.name} line {n}: not a feedback record; skipped")
            continue
        latest.pop(rid, None)  # re-inserted: order follows the latest rating
        latest[rid] = rec
    return list(latest.values()), warnings


def eval_line(rec: dict) -> dict:
    """One eval-set line from a feedback record (see the module docstring)."""
    line = {"id": f"fb-{rec['id']}", "question": rec["question"], "history": rec.get("history") or [],
            "feedback": {"rating": rec["rating"], "time": rec.get("time"), "mode": rec.get("mode"),
                         "settings": rec.get("settings")}}
    if rec.get("comment"):
        line["comment"] = rec["comment"]
    cites = rec.get("citations") or []
    if rec["rating"] == "up" and rec.get("refused"):
        line["type"] = "unanswerable"  # the user agreed the documents don't say
    elif rec["rating"] == "up":
        line["type"] = "followup" if line["history"] else "other"
        line["answer"] = _MARKER.sub("", rec["answer"]).strip()
        line["evidence"] = list(dict.fromkeys(c["quote"] for c in cites))
        line["sources"] = list(dict.fromkeys(c["source"] for c in cites if c.get("source")))
    else:
        line.update(type="other", review=True, rejected_answer=rec["answer"],
                    rejected_sources=list(dict.fromkeys(c["source"] for c in cites if c.get("source"))))
    return line


def export_evalset(src: Path, out: Path) -> tuple[dict, list[str]]:
    """Write ``out`` (JSONL) from the feedback file ``src``; returns (counts, warnings).

    Taken-back ratings are left out; counts: {"up", "down", "lines"}.
    """
    records, warnings = load_feedback(src)
    lines = [eval_line(r) for r in records if r.get("rating") in ("up", "down")]
    if not lines:
        raise InputError(f"{src} holds no thumbs-up or thumbs-down yet; nothing to export")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    up = sum(x["feedback"]["rating"] == "up" for x in lines)
    return {"up": up, "down": len(lines) - up, "lines": len(lines)}, warnings
