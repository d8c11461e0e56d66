"""Label sets and synonyms: the one source of truth for label names used by prompts, parser and metrics."""

from __future__ import annotations

LABEL_SETS: dict[str, tuple[str, ...]] = {
    # The generated tri-modal corpus (IEMOCAP-4-like: valence x arousal quadrants).
    "synthetic4": ("neutral", "happy", "sad", "angry"),
    # MELD (Poria et al., 2019), 7 emotions.
    "meld": ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"),
    # EmoryNLP (Zahiri & Choi, 2018), 7 emotions (lower-cased).
    "emorynlp": ("neutral", "joyful", "peaceful", "powerful", "scared", "mad", "sad"),
    # EmoDB (Burkhardt et al., 2005), 7 emotions.
    "emodb": ("anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"),
}

# Words a model may use for a label; each maps to exactly one canonical label within a set.
SYNONYMS: dict[str, dict[str, str]] = {
    "synthetic4": {
        "happiness": "happy",
        "joy": "happy",
        "joyful": "happy",
        "glad": "happy",
        "sadness": "sad",
        "unhappy": "sad",
        "anger": "angry",
        "mad": "angry",
        "calm": "neutral",
    },
    "meld": {
        "happy": "joy",
        "happiness": "joy",
        "surprised": "surprise",
        "angry": "anger",
        "sad": "sadness",
        "disgusted": "disgust",
        "scared": "fear",
        "afraid": "fear",
    },
    "emorynlp": {
        "joy": "joyful",
        "happy": "joyful",
        "angry": "mad",
        "anger": "mad",
        "fear": "scared",
        "sadness": "sad",
        "calm": "peaceful",
    },
    "emodb": {
        "angry": "anger",
        "bored": "boredom",
        "disgusted": "disgust",
        "afraid": "fear",
        "happy": "happiness",
        "joy": "happiness",
        "sad": "sadness",
    },
}


def get_labels(name: str) -> tuple[str, ...]:
    """The label tuple of a named set; an unknown name lists the valid ones."""
    if name not in LABEL_SETS:
        raise KeyError(f"unknown label set {name!r}; valid: {', '.join(sorted(LABEL_SETS))}")
    return LABEL_SETS[name]


def check_label(label: str, labels: tuple[str, ...], sample_id: str) -> str:
    """Return `label` if it is in `labels`, else raise naming the sample."""
    if label not in labels:
        raise ValueError(f"sample {sample_id}: unknown label {label!r}; valid: {', '.join(labels)}")
    return label
