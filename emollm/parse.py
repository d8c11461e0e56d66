"""Answer text -> label, or None ("unparsed"). Never falls back to a default label."""

from __future__ import annotations

import re
from dataclasses import dataclass

from emollm.labels import LABEL_SETS, synonyms

_STRICT = re.compile(r"(?:emotion|label)\s*[:=\-]\s*[*_\"']*\s*([A-Za-z]+)", re.IGNORECASE)
_REASON = re.compile(
    r"(?:reason|rationale|because|cues)\s*[:\-]?\s*(.+?)\s*(?=\n\s*(?:emotion|label|valence)\s*[:=]|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_VA = re.compile(r"valence\s*[:=]\s*([+-]?\d*\.?\d+)\s*,?\s*arousal\s*[:=]\s*([+-]?\d*\.?\d+)", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+")


@dataclass
class ParsedAnswer:
    """A parsed answer: the label (None when unreadable) and the rationale text."""

    label: str | None
    rationale: str


def canonical(word: str, labels: tuple[str, ...], label_set: str | None = None) -> str | None:
    """Map a word to a label of `labels` (directly or through the set's synonyms), else None."""
    w = word.lower()
    if w in labels:
        return w
    words = synonyms(label_set) if label_set in LABEL_SETS else {}
    mapped = words.get(w)
    return mapped if mapped in labels else None


def parse_answer(text: str, labels: tuple[str, ...], label_set: str | None = None) -> ParsedAnswer:
    """Read the label from an answer: the `Emotion: X` pattern first, else a single unambiguous label word."""
    reason = _REASON.search(text)
    rationale = reason.group(1).strip() if reason else ""
    strict = _STRICT.search(text)
    if strict:
        return ParsedAnswer(canonical(strict.group(1), labels, label_set), rationale)
    found = {c for c in (canonical(w, labels, label_set) for w in _WORD.findall(text)) if c}
    return ParsedAnswer(found.pop() if len(found) == 1 else None, rationale)


def parse_va(text: str) -> tuple[float, float] | None:
    """Read `Valence: v, arousal: a` from an answer (each in [-1, 1]); None when absent or out of range."""
    m = _VA.search(text)
    if not m:
        return None
    v, a = float(m.group(1)), float(m.group(2))
    return (v, a) if -1 <= v <= 1 and -1 <= a <= 1 else None
