"""Eval sets: the JSONL format of ``docqa eval``, and a SQuAD importer.

One question a line: ``{"id", "question", "answer"?, "key_facts"?, "sources"?,
"evidence"?, "type"?, "history"?}``. Unknown fields are ignored; a malformed
line is reported with its line number and skipped; an unknown type counts as
"other". See eval/README.md.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.text import sentence_spans

TYPES = ("factoid", "list", "multi_doc", "summary", "comparison", "unanswerable", "adversarial", "followup")


@dataclass(frozen=True)
class EvalItem:
    """One question of an eval set."""

    id: str
    question: str
    answer: str | None = None
    key_facts: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    type: str = "other"
    history: tuple[dict, ...] = ()
    line: int = 0

    @property
    def unanswerable(self) -> bool:
        """The documents do not answer it: type "unanswerable", or an adversarial
        (false-premise) question with no answer, key facts or evidence to find."""
        if self.type == "unanswerable":
            return True
        return self.type == "adversarial" and not (self.answer or self.key_facts or self.evidence)

    def to_json(self) -> dict:
        return {"id": self.id, "question": self.question, "answer": self.answer, "key_facts": list(self.key_facts),
                "sources": list(self.sources), "evidence": list(self.evidence), "type": self.type,
                "history": list(self.history)}


def _str_list(value, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f'"{name}" must be a list of strings')
    return tuple(v for v in value if v.strip())


def parse_item(obj, line: int = 0) -> tuple[EvalItem, list[str]]:
    """Validate one decoded JSON object; raises ValueError with what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    warnings = []
    qid, question = obj.get("id"), obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError('"question" must be a non-empty string')
    if qid is None or isinstance(qid, (dict, list, bool)) or not str(qid).strip():
        raise ValueError('"id" is missing or not a string/number')
    answer = obj.get("answer")
    if answer is not None and not isinstance(answer, (str, int, float)):
        raise ValueError('"answer" must be a string')
    qtype = obj.get("type") or "other"
    if not isinstance(qtype, str):
        raise ValueError('"type" must be a string')
    if qtype not in TYPES and qtype != "other":
        warnings.append(f"line {line}: unknown type {qtype!r}, counted as \"other\" (known: {', '.join(TYPES)})")
        qtype = "other"
    history = obj.get("history") or []
    if not isinstance(history, list) or not all(
            isinstance(h, dict) and h.get("role") in ("user", "assistant") and isinstance(h.get("content"), str)
            for h in history):
        raise ValueError('"history" must be a list of {"role": "user"|"assistant", "content": str}')
    item = EvalItem(id=str(qid), question=question.strip(), answer=None if answer is None else str(answer),
                    key_facts=_str_list(obj.get("key_facts"), "key_facts"),
                    sources=_str_list(obj.get("sources"), "sources"),
                    evidence=_str_list(obj.get("evidence"), "evidence"), type=qtype,
                    history=tuple({"role": h["role"], "content": h["content"]} for h in history), line=line)
    return item, warnings


def load_evalset(path: Path) -> tuple[list[EvalItem], list[str]]:
    """Read a JSONL eval set: (items, warnings). Bad lines become warnings, never a crash.

    Raises InputError when the file cannot be read or holds no usable question.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"eval set {path} not found; pass a JSONL file (see eval/README.md)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read eval set {path}: {e}; expected UTF-8 JSONL") from None
    items, warnings, ids = [], [], set()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item, w = parse_item(json.loads(line), n)
        except json.JSONDecodeError as e:
            warnings.append(f"line {n}: not valid JSON ({e.msg} at column {e.colno}); skipped")
            continue
        except ValueError as e:
            warnings.append(f"line {n}: {e}; skipped")
            continue
        if item.id in ids:
            warnings.append(f"line {n}: duplicate id {item.id!r}; skipped")
            continue
        ids.add(item.id)
        warnings.extend(w)
        items.append(item)
    if not items:
        what = "is empty" if not text.strip() else "has no valid question (see the warnings above)"
        raise InputError(f"eval set {path} {what}; expected one JSON object a line with \"id\" and \"question\"")
    return items, warnings


# -- SQuAD -----------------------------------------------------------------
def _sentence_at(context: str, start: int, end: int) -> str:
    """The sentence(s) of ``context`` covering [start, end)."""
    spans = sentence_spans(context) or [(0, len(context))]
    s = max((a for a, _ in spans if a <= start), default=0)
    e = min((b for _, b in spans if b >= end), default=len(context))
    return context[s:e].strip()


def squad_to_corpus(path: Path, corpus_dir: Path) -> tuple[list[EvalItem], list[str]]:
    """Convert a SQuAD-style JSON file (v1.1 or v2.0) into a corpus folder plus eval items.

    Each distinct context becomes ``corpus_dir/NNNN.txt`` (its article title as
    the first line); each question becomes an item: ``is_impossible`` -> type
    "unanswerable"; otherwise answer = the first answer text, evidence = the
    sentence of the context holding it, sources = the context's file name.
    """
    path, corpus_dir = Path(path), Path(corpus_dir)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"SQuAD file {path} not found") from None
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read SQuAD file {path}: {e}; expected SQuAD JSON "
                         '({"data": [{"title", "paragraphs": [{"context", "qas"}]}]})') from None
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise InputError(f'{path} is not SQuAD JSON: no "data" list at the top level')
    corpus_dir.mkdir(parents=True, exist_ok=True)
    items, warnings, files, ids = [], [], {}, set()
    for a, article in enumerate(articles):
        title = str(article.get("title") or f"article {a + 1}").replace("_", " ") if isinstance(article, dict) else ""
        for p, para in enumerate(article.get("paragraphs", []) if isinstance(article, dict) else []):
            context = para.get("context") if isinstance(para, dict) else None
            if not isinstance(context, str) or not context.strip():
                warnings.append(f"data[{a}].paragraphs[{p}]: no context; skipped")
                continue
            name = files.get(context)
            if name is None:
                name = files[context] = f"{len(files) + 1:04d}.txt"
                (corpus_dir / name).write_text(f"{title}\n\n{context}\n", encoding="utf-8")
            for q, qa in enumerate(para.get("qas", [])):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                if not isinstance(qa, dict) or not str(qa.get("question", "")).strip():
                    warnings.append(f"{where}: no question; skipped")
                    continue
                qid = str(qa.get("id") or where)
                if qid in ids:
                    warnings.append(f"{where}: duplicate id {qid!r}; skipped")
                    continue
                ids.add(qid)
                answers = [x for x in qa.get("answers") or [] if isinstance(x, dict) and x.get("text")]
                if qa.get("is_impossible") or not answers:
                    items.append(EvalItem(id=qid, question=qa["question"].strip(), type="unanswerable"))
                    continue
                first = answers[0]
                start = first.get("answer_start")
                if not isinstance(start, int) or context[start:start + len(first["text"])] != first["text"]:
                    start = context.find(first["text"])
                evidence = (_sentence_at(context, start, start + len(first["text"])),) if start >= 0 else ()
                items.append(EvalItem(id=qid, question=qa["question"].strip(), answer=first["text"],
                                      key_facts=(first["text"],), sources=(name,), evidence=evidence,
                                      type="factoid"))
    if not items:
        raise InputError(f"SQuAD file {path} has no questions")
    return items, warnings
