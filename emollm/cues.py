"""Interpretable cues measured per sample by the model's own encoders (transcript words, eGeMAPS prosody, FER2013
face-expression probabilities, physiological statistics) and their wording (`prompts/rationale_default.yaml`):
the text of a cue-grounded rationale, and of the `Measured:` prompt line of templates that give the model its cues.

Cues of one sample (stored as `meta.measured`):
    {"text": {"phrases": [...]},
     "voice": {"pitch": st, "loudness": sone, "voiced_rate": 1/s, "z": {"pitch": .., ...}},
     "face": {"expression": "happy", "p": 0.82},
     "physiology": {"hr": bpm, "hr_change": bpm, "scr": per min},
     "missing": ["video", ...]}
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cache
from typing import Any

import numpy as np

from emollm.data.media import MediaError
from emollm.encoders.face import FER_CLASSES
from emollm.encoders.physio import SCALES
from emollm.prompts import prompt_data

VOICE = {
    "pitch": "F0semitoneFrom27.5Hz_sma3nz_amean",
    "loudness": "loudness_sma3_amean",
    "voiced_rate": "VoicedSegmentsPerSec",
}
MODALITY_WORDS = {"video": "face video", "audio": "voice", "sensor": "physiology"}
LEVEL_Z = 0.5
MIN_REFERENCE = 5


@cache
def rationale_template(name: str = "rationale_default") -> dict[str, Any]:
    """The rationale wording (prompts/NAME.yaml)."""
    return prompt_data(name)


@cache
def lexicon() -> tuple[str, ...]:
    """Emotion-bearing words and phrases looked for in transcripts (prompts/cue_lexicon.yaml)."""
    data = prompt_data("cue_lexicon")
    return tuple(
        sorted({str(w).lower() for words in data["words"].values() for w in words}, key=len, reverse=True)
    )


def text_cues(text: str | None) -> dict[str, Any] | None:
    """The lexicon words/phrases that occur in a transcript as whole words (in order of appearance)."""
    if not text:
        return None
    found = []
    for phrase in lexicon():
        m = re.search(rf"(?<![\w']){re.escape(phrase)}(?![\w'])", text, re.IGNORECASE)
        if m and not any(phrase in f.lower() for _, f in found):
            found.append((m.start(), m.group(0)))
    return {"phrases": [f for _, f in sorted(found)][:3]}


def face_cues(features: np.ndarray) -> dict[str, Any]:
    """FER2013 features `[T, 135]` -> the mean expression probabilities' top class over face frames."""
    probs = features[:, 128:135]
    probs = probs[probs.sum(axis=1) > 0.5]
    mean = probs.mean(axis=0)
    top = int(mean.argmax())
    return {"expression": FER_CLASSES[top], "p": round(float(mean[top]), 2)}


def voice_cues(features: np.ndarray, names: list[str]) -> dict[str, Any]:
    """eGeMAPS functionals `[1, 88]` -> mean pitch (semitones from 27.5 Hz), loudness and voiced segments per s."""
    row = features.reshape(-1, len(names))[0]
    return {k: round(float(row[names.index(col)]), 3) for k, col in VOICE.items()}


def physio_cues(
    features: np.ndarray, layout: list[tuple[str, str]], scales: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """Physio window features `[T, D]` (scaled) -> heart rate, its change over the recording, SCRs per minute."""
    out: dict[str, Any] = {}
    for j, (_channel, feat) in enumerate(layout):
        values = features[:, j] * scales[feat][1] + scales[feat][0]
        if feat == "hr" and "hr" not in out:
            out["hr"], out["hr_change"] = (
                round(float(values.mean()), 1),
                round(float(values[-1] - values[0]), 1),
            )
        elif feat == "scr_rate" and "scr" not in out:
            out["scr"] = round(float(values.mean()), 1)
    return out


def cues_from_features(encoder: Any, features: np.ndarray) -> tuple[str, dict[str, Any]] | None:
    """Interpretable cues from one encoder's features, keyed by cue group; None for encoders without any."""
    inner = getattr(encoder, "inner", encoder)
    name = getattr(inner, "name", "")
    if name == "fer2013":
        return "face", face_cues(features)
    if name == "egemaps" and getattr(inner, "level", "") == "functionals":
        return "voice", voice_cues(features, list(inner.smile.feature_names))
    if name == "physio":
        cues = physio_cues(features, inner.layout, SCALES)
        return ("physiology", cues) if cues else None
    return None


def add_relative_levels(all_cues: list[dict[str, Any]], speakers: list[str | None]) -> None:
    """Add voice z-scores against the same speaker's clips (>= 5 of them), else against the whole set."""
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, spk in enumerate(speakers):
        if "voice" in all_cues[i]:
            groups[spk].append(i)
    everyone = [i for idx in groups.values() for i in idx]
    for idx in groups.values():
        ref = idx if len(idx) >= MIN_REFERENCE else everyone
        if len(ref) < 2:
            continue
        for key in VOICE:
            values = np.array([all_cues[i]["voice"][key] for i in ref])
            mu, sd = values.mean(), values.std() + 1e-9
            for i in idx:
                all_cues[i]["voice"].setdefault("z", {})[key] = round(
                    float((all_cues[i]["voice"][key] - mu) / sd), 1
                )


def level_of(z: float) -> str:
    return "high" if z > LEVEL_Z else "low" if z < -LEVEL_Z else "typical"


def describe(cues: dict[str, Any], template: dict[str, Any] | None = None) -> str:
    """The rationale: one phrase per measured cue, then the missing modalities; never a cue that was not measured."""
    ph = (template or rationale_template())["phrases"]
    parts = []
    if cues.get("face"):
        parts.append(ph["face"].format(**cues["face"]))
    voice = cues.get("voice")
    if voice and voice.get("z"):
        parts += [ph[k].format(level=level_of(z), z=z) for k, z in voice["z"].items()]
    elif voice:
        parts.append(ph["pitch_abs"].format(value=voice["pitch"]))
    body = cues.get("physiology") or {}
    if "hr" in body:
        parts.append(ph["heart"].format(hr=body["hr"], change=int(round(body["hr_change"])) + 0))
    if "scr" in body:
        parts.append(ph["scr"].format(scr=body["scr"]))
    if cues.get("text", {}).get("phrases"):
        parts.append(ph["text"].format(phrases='", "'.join(cues["text"]["phrases"])))
    if cues.get("missing"):
        parts.append(ph["missing"].format(missing=" or ".join(MODALITY_WORDS[m] for m in cues["missing"])))
    text = (template or rationale_template())["join"].join(parts) or ph["none"]
    return text[0].upper() + text[1:] + "."


CUE_GROUP = {"video": "face", "audio": "voice", "sensor": "physiology"}


def cues_without(measured: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    """The measured cues with those of `dropped` modalities removed and the modalities named missing."""
    cues = {k: v for k, v in measured.items() if k not in {CUE_GROUP[m] for m in dropped}}
    cues["missing"] = [m for m in MODALITY_WORDS if m in {*measured.get("missing", []), *dropped}]
    return cues


def rationale_without(measured: dict[str, Any], dropped: list[str]) -> str:
    """The rationale of a sample whose `dropped` inputs were hidden: only the remaining inputs' measured cues."""
    return describe(cues_without(measured, dropped))


def cues_of_inputs(
    measured: dict[str, Any], media: set[str] | list[str], modalities: tuple[str, ...], has_text: bool
) -> dict[str, Any]:
    """The measured cues of the inputs a sample still has (`media`; the transcript when `has_text`): cues of the
    model's `modalities` that are absent now are removed and named missing, transcript words go with the text."""
    cues = cues_without(measured, [m for m in modalities if m in CUE_GROUP and m not in media])
    if not has_text:
        cues.pop("text", None)
    return cues


def measure_samples(
    samples: list[Any], encoders: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Measured cues per sample (via the encoders, cached when wrapped) and a report of samples whose media failed."""

    all_cues, bad = [], []
    for sample in samples:
        cues: dict[str, Any] = {}
        if (tc := text_cues(sample.text)) is not None:
            cues["text"] = tc
        cues["missing"] = [m for m in encoders if m not in sample.media]
        for modality, ref in sample.media.items():
            enc = encoders.get(modality)
            if enc is None:
                continue
            try:
                feats = _features(enc, ref)
            except (MediaError, ValueError, FileNotFoundError) as exc:
                bad.append({"sample": sample.id, "modality": modality, "reason": str(exc)})
                continue
            found = cues_from_features(enc, feats)
            if found:
                cues[found[0]] = found[1]
        all_cues.append(cues)
    add_relative_levels(all_cues, [s.speaker for s in samples])
    return all_cues, bad


def _features(encoder: Any, ref: str) -> np.ndarray:
    """`[T, D]` features of one input: from the feature cache when the encoder is wrapped, else encoded now."""
    if hasattr(encoder, "features"):
        return np.asarray(encoder.features(ref))
    feats, mask = encoder.encode([encoder.prepare(ref)])
    return feats[0][mask[0].bool()].detach().float().numpy()
