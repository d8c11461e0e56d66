"""Label sets, the canonical taxonomy, synonyms and valence/arousal ranges: the one source of truth for label names
used by recipes, prompts, parser, label maps and metrics."""

from __future__ import annotations

from functools import cache

LABEL_SETS: dict[str, tuple[str, ...]] = {
    # The generated tri-modal corpus (IEMOCAP-4-like: valence x arousal quadrants).
    "synthetic4": ("neutral", "happy", "sad", "angry"),
    # MELD (Poria et al., 2019), 7 emotions.
    "meld": ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"),
    # EmoryNLP (Zahiri & Choi, 2018), 7 emotions of Willcox's feeling wheel (lower-cased).
    "emorynlp": ("neutral", "joyful", "peaceful", "powerful", "scared", "mad", "sad"),
    # EmoDB (Burkhardt et al., 2005), 7 emotions.
    "emodb": ("anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"),
    # IEMOCAP (Busso et al., 2008): the 4-class convention (excited merged into happy) and the 6-class one.
    "iemocap4": ("neutral", "happy", "sad", "angry"),
    "iemocap6": ("neutral", "happy", "sad", "angry", "excited", "frustrated"),
    # RAVDESS (Livingstone & Russo, 2018), filename emotion codes 01-08.
    "ravdess": ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"),
    # CREMA-D (Cao et al., 2014), ANG DIS FEA HAP NEU SAD.
    "cremad": ("anger", "disgust", "fear", "happy", "neutral", "sad"),
    # MSP-IMPROV (Busso et al., 2017), consensus labels A H S N.
    "msp_improv": ("angry", "happy", "sad", "neutral"),
    # CMU-MOSI / CMU-MOSEI sentiment polarity (score < 0, = 0, > 0 on the -3..3 scale).
    "sentiment3": ("negative", "neutral", "positive"),
    # MER2023 (Lian et al., 2023), 6 discrete emotions.
    "mer2023": ("neutral", "angry", "happy", "sad", "worried", "surprise"),
    # Self-assessed valence x arousal quadrants (DEAP, DREAMER, AMIGOS): high/low split at the scale midpoint.
    # excited = high valence high arousal, relaxed = HV LA, tense = LV HA, depressed = LV LA (Russell's circumplex).
    "circumplex4": ("excited", "relaxed", "tense", "depressed"),
    # MAHNOB-HCI felt emotion (feltEmo codes 0-6, 11, 12).
    "mahnob": ("neutral", "anger", "disgust", "fear", "joy", "sadness", "surprise", "amusement", "anxiety"),
    # SAVEE (Haq & Jackson, 2009), filename prefixes a d f h n sa su.
    "savee": ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"),
    # eNTERFACE'05 (Martin et al., 2006), 6 emotions (no neutral).
    "enterface": ("anger", "disgust", "fear", "happiness", "sadness", "surprise"),
}

# The canonical taxonomy: every corpus label names one of these concepts.
CANONICAL: tuple[str, ...] = (
    "neutral", "happiness", "sadness", "anger", "fear", "disgust", "surprise", "calm", "boredom", "excitement",
    "frustration", "anxiety", "amusement", "confidence", "positive", "negative", "tension", "depression",
)  # fmt: skip

# Surface words per canonical concept; the first is the concept's own name.
CANONICAL_WORDS: dict[str, tuple[str, ...]] = {
    "neutral": ("neutral",),
    "happiness": ("happiness", "happy", "joy", "joyful", "glad", "delighted"),
    "sadness": ("sadness", "sad", "unhappy", "sorrow"),
    "anger": ("anger", "angry", "mad", "furious"),
    "fear": ("fear", "fearful", "scared", "afraid"),
    "disgust": ("disgust", "disgusted"),
    "surprise": ("surprise", "surprised"),
    "calm": ("calm", "peaceful", "relaxed"),
    "boredom": ("boredom", "bored"),
    "excitement": ("excitement", "excited"),
    "frustration": ("frustration", "frustrated"),
    "anxiety": ("anxiety", "anxious", "worried", "worry"),
    "amusement": ("amusement", "amused"),
    "confidence": ("confidence", "confident", "powerful"),
    "positive": ("positive",),
    "negative": ("negative",),
    "tension": ("tension", "tense", "stressed"),
    "depression": ("depression", "depressed"),
}

# Each corpus label -> its canonical concept (a label equal to a surface word of a concept needs no entry).
_CANONICAL_OVERRIDES: dict[str, dict[str, str]] = {
    "circumplex4": {"excited": "excitement", "relaxed": "calm"},
}


@cache
def _word_to_concept() -> dict[str, str]:
    return {w: concept for concept, words in CANONICAL_WORDS.items() for w in words}


def canonical_of(label_set: str, label: str) -> str:
    """The canonical concept of a corpus label (e.g. meld/joy -> happiness)."""
    check_label(label, get_labels(label_set), f"<{label_set}>")
    concept = _CANONICAL_OVERRIDES.get(label_set, {}).get(label) or _word_to_concept().get(label)
    if concept is None:
        raise KeyError(f"label {label_set}/{label} has no canonical concept")
    return concept


@cache
def synonyms(label_set: str) -> dict[str, str]:
    """Words a model may use for a label of the set -> that label; words naming two labels are left out."""
    labels = get_labels(label_set)
    found: dict[str, set[str]] = {}
    for label in labels:
        for word in CANONICAL_WORDS[canonical_of(label_set, label)]:
            found.setdefault(word, set()).add(label)
    return {w: next(iter(ls)) for w, ls in found.items() if len(ls) == 1 and w not in labels}


# Valence/arousal/dominance rating scales per corpus (lo, hi); normalised as 2 (v - lo) / (hi - lo) - 1.
VA_RANGES: dict[str, tuple[float, float]] = {
    "iemocap": (1.0, 5.0),  # SAM-like 1-5 dimensional annotation
    "msp_improv": (1.0, 5.0),
    "mosi": (-3.0, 3.0),  # sentiment score
    "mosei": (-3.0, 3.0),
    "mer2023": (-5.0, 5.0),  # valence
    "deap": (1.0, 9.0),  # SAM self-assessment
    "amigos": (1.0, 9.0),
    "mahnob": (1.0, 9.0),
    "dreamer": (1.0, 5.0),
    "synthetic": (-1.0, 1.0),
}
VA_FORMULA = "v_norm = 2 * (v - lo) / (hi - lo) - 1, clipped to [-1, 1]"


def normalise_va(corpus: str, value: float) -> float:
    """A valence/arousal rating on the corpus's scale -> [-1, 1] (see VA_FORMULA)."""
    if corpus not in VA_RANGES:
        raise KeyError(
            f"no valence/arousal range for corpus {corpus!r}; known: {', '.join(sorted(VA_RANGES))}"
        )
    lo, hi = VA_RANGES[corpus]
    v = float(value)
    if v != v:
        raise ValueError(f"{corpus}: valence/arousal rating is NaN")
    return round(max(-1.0, min(1.0, 2 * (v - lo) / (hi - lo) - 1)), 6)


def circumplex_quadrant(valence: float, arousal: float, midpoint: float) -> str:
    """The circumplex4 label of a (valence, arousal) rating, high when strictly above `midpoint`."""
    high_v, high_a = valence > midpoint, arousal > midpoint
    return {(True, True): "excited", (True, False): "relaxed", (False, True): "tense"}.get(
        (high_v, high_a), "depressed"
    )


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
