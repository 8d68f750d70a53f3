"""Follow-up questions: make "what must companies do under that ruling?" retrievable.

Without an LLM, ``rewrite`` carries the salient names and terms of the last
turns into the query when the question leans on a pronoun or demonstrative or
is very short. With an LLM, ``condense`` asks it for a standalone question and
falls back to ``rewrite`` when the reply is unusable.
"""
from __future__ import annotations

import re

from core.text import chat_turns, name_runs, numbers, tokenize

# Words that point back at something said earlier.
# Not "the": it starts half of all standalone questions ("the job market").
_ANAPHORA = frozenset("""it its it's they them their theirs this that these those there he she him her his
such former latter""".split())
_QWORDS = frozenset("""what which who whom whose when where why how is are was were do does did can could
should would will may might must has have had please tell explain describe summarize list give""".split())
_GENERIC = frozenset("""say says said mention mentioned article articles document documents text according
mean means role happen happened more also""".split())
_MARKER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
SHORT = 3  # content words; a question this short cannot stand on its own
MAX_CARRY = 14


def refers_back(text: str) -> bool:
    """True when ``text`` holds a pronoun or demonstrative pointing at something said before it."""
    return any(w.replace("’", "'") in _ANAPHORA for w in re.findall(r"[\w’']+", text.lower()))


def needs_context(question: str) -> bool:
    """True when the question leans on earlier turns (anaphora, or too few content words)."""
    return refers_back(question) or len(tokenize(question)) <= SHORT


def _names(text: str) -> list[str]:
    """Capitalised phrases of ``text`` ("Xi Jinping"), without pronouns."""
    return [n for n in name_runs(text) if n.lower() not in _ANAPHORA]


def salient_terms(text: str) -> list[str]:
    """Names, numbers and content words of ``text``, most salient first, without repeats."""
    text = _MARKER.sub(" ", text)
    terms = _names(text) + sorted(numbers(text), key=text.find)
    terms += [w for w in tokenize(text) if w not in _QWORDS and w not in _GENERIC and len(w) > 2]
    seen, out = set(), []
    for t in terms:
        key = t.lower()
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def rewrite(question: str, history: list[dict] | None) -> str:
    """The retrieval query for ``question`` given earlier turns (no LLM).

    Returns the question unchanged when it stands on its own or there is no
    history; otherwise the question followed by the names and terms of the last
    user turns and the names of the last assistant answer.
    """
    turns = chat_turns(history)
    if not turns or not needs_context(question):
        return question
    users = [h["content"] for h in turns if h.get("role") == "user"][-2:]
    assistants = [h["content"] for h in turns if h.get("role") == "assistant"][-1:]
    carry: list[str] = []
    for text in reversed(users):  # the latest user turn matters most
        carry += salient_terms(text)
    for text in assistants:
        carry += _names(_MARKER.sub(" ", text))
    have = {t.lower() for t in tokenize(question)} | {question.lower()}
    seen, extra = set(), []
    for t in carry:
        key = t.lower()
        if key in seen or key in have or (" " not in key and key in question.lower()):
            continue
        seen.add(key)
        extra.append(t)
        if len(extra) >= MAX_CARRY:
            break
    return f"{question} {' '.join(extra)}".strip() if extra else question


CONDENSE_PROMPT = (
    "Rewrite the last question of the conversation as one standalone question that names what "
    "pronouns like 'it', 'that' or 'they' refer to. Reply with the question only.")


def condense(question: str, history: list[dict] | None, chat) -> str:
    """A standalone question via an LLM (``chat(messages) -> str``); ``rewrite`` on any failure."""
    turns = chat_turns(history)
    if not turns:
        return question
    convo = "\n".join(f"{h.get('role', 'user')}: {_MARKER.sub('', h['content']).strip()[:600]}"
                      for h in turns[-4:])
    messages = [{"role": "system", "content": CONDENSE_PROMPT},
                {"role": "user", "content": f"Conversation:\n{convo}\n\nLast question: {question}\n\n"
                                            "Standalone question:"}]
    try:
        reply = (chat(messages) or "").strip().splitlines()
    except Exception:
        return rewrite(question, history)
    line = reply[0].strip().strip('"') if reply else ""
    # A weak model may answer instead of rewriting, or drop the question: keep what is usable.
    q_words = set(tokenize(question))
    kept = len(q_words & set(tokenize(line))) >= max(1, len(q_words) // 2)
    if not line or len(line) > 400 or not kept:
        return rewrite(question, history)
    # The heuristic carry-over still helps when the model left a pronoun in place.
    return rewrite(line, history) if needs_context(line) else line
