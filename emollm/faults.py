"""Deterministic kill points, for testing that every interrupted job resumes without losing or duplicating work.

`EMOLLM_KILL_AT=NAME:N` makes the process SIGKILL itself the N-th time it reaches `kill_point("NAME")` (no cleanup,
no atexit, like a power cut or the OOM killer). Unset, a kill point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_reached: Counter[str] = Counter()


def kill_point(name: str) -> None:
    """Die here when EMOLLM_KILL_AT names this point and its count is reached."""
    spec = os.environ.get("EMOLLM_KILL_AT")
    if not spec:
        return
    target, _, count = spec.partition(":")
    if target != name:
        return
    _reached[name] += 1
    if _reached[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
