"""Save an uploaded file into the corpus folder, safely.

Uploads come from a browser or an API client, so their names are untrusted:
``save_upload`` keeps only a sanitised base name, accepts only the formats
ingest reads, enforces ``settings.max_upload_mb``, and never overwrites an
existing file (a ``-1``, ``-2``... suffix is added instead). Whatever the name,
the file lands directly inside the corpus folder or nowhere.
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from core.errors import InputError
from ingest.load import SUPPORTED

MAX_STEM = 100  # characters; keeps names well under every filesystem's 255-byte limit
_UNSAFE = re.compile(r"[^\w.\- ()]+")  # \w is unicode-aware: accented names survive
_REPEAT = re.compile(r"[_ ]{2,}")


def safe_name(name: str) -> str:
    """A harmless file name for ``name``: base name only, no control chars, a supported extension.

    Raises InputError when the extension is not one ingest can read.
    """
    name = unicodedata.normalize("NFKC", str(name))
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # NUL, controls, bidi marks
    # Both separators: a Windows browser may send "C:\\Users\\me\\a.txt".
    name = re.split(r"[\\/]", name)[-1].strip()
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = "." + ext.lower().strip() if dot else ""
    if ext not in SUPPORTED:
        shown = ext or "(none)"
        raise InputError(f"cannot upload {name[:60]!r}: unsupported type {shown}; "
                         f"supported: {', '.join(SUPPORTED)}")
    stem = _REPEAT.sub("_", _UNSAFE.sub("_", stem)).strip(" ._-")  # leading dots would hide the file
    stem = stem[:MAX_STEM].rstrip(" ._-") or "upload"
    return stem + ext


def _size(source) -> int:
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    try:
        return Path(source).stat().st_size
    except OSError as e:
        raise InputError(f"cannot read the uploaded file ({e.strerror or e}); upload it again") from None


def _open_new(folder: Path, name: str) -> tuple[int, Path]:
    """Create ``name`` (or ``stem-N.ext``) exclusively inside ``folder``; never follows a link."""
    stem, ext = os.path.splitext(name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for i in range(1000):
        target = folder / (name if i == 0 else f"{stem}-{i}{ext}")
        if target.parent.resolve() != folder:  # belt and braces: safe_name already forbids separators
            raise InputError(f"refusing to write {target.name!r} outside the corpus folder")
        try:
            return os.open(target, flags, 0o644), target
        except FileExistsError:
            continue
    raise InputError(f"too many files named like {name!r} in the corpus folder; rename the upload")


def save_upload(source, name: str, settings) -> Path:
    """Copy an upload (a path or bytes) into ``settings.corpus_dir`` under a safe, new name.

    Returns the saved path. Raises InputError (one line) for a bad type, an
    empty or oversize file, or an unreadable upload; nothing is written then.
    """
    final = safe_name(name)
    size = _size(source)
    limit = settings.max_upload_mb * 1024 * 1024
    if size > limit:
        raise InputError(f"{final} is {size / 1048576:.1f} MB, over the {settings.max_upload_mb} MB upload "
                         "limit; split it or raise max_upload_mb")
    if size == 0:
        raise InputError(f"{final} is empty; upload a file with text in it")
    folder = Path(settings.corpus_dir)
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()
    fd, target = _open_new(folder, final)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(source, (bytes, bytearray)):
                out.write(source)
            else:
                with open(source, "rb") as src:
                    while block := src.read(1 << 20):
                        out.write(block)
    except OSError as e:
        target.unlink(missing_ok=True)
        raise InputError(f"could not save {final}: {e.strerror or e}; check free disk space") from None
    return target
