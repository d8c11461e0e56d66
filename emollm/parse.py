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
_CLAUSE = re.compile(r"[.,;:!?\n]+")
_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
NEGATORS = frozenset({"not", "no", "never", "hardly", "barely", "nor", "without", "isn't", "aren't", "wasn't",
                      "weren't", "doesn't", "don't", "didn't", "can't", "cannot", "won't", "neither"})  # fmt: skip
NEGATION_WINDOW = 4  # a label word with a negator among the 4 words before it is not a claim of that label


@dataclass
class ParsedAnswer:
    """A parsed answer: the label (None when unreadable), the rationale text, and how the label was read:
    `pattern` (an `Emotion: X` line), `word` (the one label word of a free answer, not negated) or `none`."""

    label: str | None
    rationale: str
    via: str = "none"


def canonical(word: str, labels: tuple[str, ...], label_set: str | None = None) -> str | None:
    """Map a word to a label of `labels` (directly or through the set's synonyms), else None."""
    w = word.lower()
    if w in labels:
        return w
    words = synonyms(label_set) if label_set in LABEL_SETS else {}
    mapped = words.get(w)
    return mapped if mapped in labels else None


def parse_answer(text: str, labels: tuple[str, ...], label_set: str | None = None) -> ParsedAnswer:
    """Read the label from an answer: the first `Emotion: X` line whose X is a label (when the answer has such
    lines, nothing else counts); else the single label word of the answer that no negator precedes ("not happy"
    claims nothing); else None. Never a default label."""
    reason = _REASON.search(text)
    rationale = reason.group(1).strip() if reason else ""
    strict = [canonical(m.group(1), labels, label_set) for m in _STRICT.finditer(text)]
    if strict:
        label = next((c for c in strict if c), None)
        return ParsedAnswer(label, rationale, "pattern" if label else "none")
    found = set()
    for clause in _CLAUSE.split(text):  # a negator reaches to the end of its clause at most
        words = [w.lower() for w in _WORD.findall(clause)]
        for i, word in enumerate(words):
            label = canonical(word, labels, label_set)
            if label and not NEGATORS & set(words[max(0, i - NEGATION_WINDOW) : i]):
                found.add(label)
    label = found.pop() if len(found) == 1 else None
    return ParsedAnswer(label, rationale, "word" if label else "none")


def parse_va(text: str) -> tuple[float, float] | None:
    """Read `Valence: v, arousal: a` from an answer (each in [-1, 1]); None when absent or out of range."""
    m = _VA.search(text)
    if not m:
        return None
    v, a = float(m.group(1)), float(m.group(2))
    return (v, a) if -1 <= v <= 1 and -1 <= a <= 1 else None
