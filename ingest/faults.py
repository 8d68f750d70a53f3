"""Fault injection for the crash tests: ``DOCQA_FAULT=point:n`` SIGKILLs the process
the n-th time ``point`` is reached. Unset (always, outside tests) it does nothing."""
from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter = Counter()


def crash_point(point: str) -> None:
    """Die like a killed process (no cleanup, no flush) if the fault spec names this point."""
    spec = os.environ.get("DOCQA_FAULT")
    if not spec:
        return
    name, _, n = spec.partition(":")
    if name != point:
        return
    _hits[point] += 1
    if _hits[point] == int(n or 1):
        os.kill(os.getpid(), signal.SIGKILL)
