"""Cue-grounded rationales: measure interpretable cues per sample (transcript words, eGeMAPS prosody, FER2013
face-expression probabilities, physiological statistics), word them with `prompts/rationale_default.yaml`, and
verify that a rationale claims only cues that were measured.

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
from pathlib import Path
from typing import Any

import numpy as np

from emollm.data.media import MediaError
from emollm.data.sample import load_samples, rebase_media
from emollm.encoders import build_encoder
from emollm.encoders.cache import cached_encoders
from emollm.encoders.face import FER_CLASSES
from emollm.encoders.physio import SCALES
from emollm.io import iter_jsonl, write_jsonl
from emollm.labels import get_labels
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


def _level(z: float) -> str:
    return "high" if z > LEVEL_Z else "low" if z < -LEVEL_Z else "typical"


def describe(cues: dict[str, Any], template: dict[str, Any] | None = None) -> str:
    """The rationale: one phrase per measured cue, then the missing modalities; never a cue that was not measured."""
    ph = (template or rationale_template())["phrases"]
    parts = []
    if cues.get("face"):
        parts.append(ph["face"].format(**cues["face"]))
    voice = cues.get("voice")
    if voice and voice.get("z"):
        parts += [ph[k].format(level=_level(z), z=z) for k, z in voice["z"].items()]
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


def absent_citations(text: str, inputs: set[str]) -> list[str]:
    """Claims of a rationale about inputs the model was not given (`inputs`: modalities present, plus "text")."""
    needs = {
        "face": "video",
        "voice_z": "audio",
        "pitch_abs": "audio",
        "heart": "sensor",
        "scr": "sensor",
        "text": "text",
    }
    found = [f"{kind} claim without {needs[kind]} input: {m[0]!r}" for kind, pattern in CLAIMS.items() if kind in needs
             for m in pattern.finditer(text) if needs[kind] not in inputs]  # fmt: skip
    return found


CLAIMS = {
    "face": re.compile(r"face mostly (\w+) \(p = (\d\.\d\d)\)", re.I),
    "voice_z": re.compile(r"(pitch|loudness|speaking rate) (high|low|typical) \(([+-]\d+\.\d) SD\)", re.I),
    "pitch_abs": re.compile(r"mean pitch (-?\d+\.\d) semitones", re.I),
    "heart": re.compile(r"heart rate (\d+) bpm \(([+-]\d+) bpm over the recording\)", re.I),
    "scr": re.compile(r"(\d+) skin-conductance responses per minute", re.I),
    "text": re.compile(r'the transcript says ((?:"[^"]+"(?:, )?)+)', re.I),
    "missing": re.compile(
        r"no ((?:face video|voice|physiology)(?: or (?:face video|voice|physiology))*) available", re.I
    ),
}
CUE_WORDS = re.compile(
    r"\b(face|pitch|loudness|speaking rate|heart rate|skin-conductance|transcript|voice|physiology)\b", re.I
)
VOICE_KEY = {"pitch": "pitch", "loudness": "loudness", "speaking rate": "voiced_rate"}


# Tolerances: `strict` = the stated number must equal the measured one at the printed precision; `levels` = only the
# qualitative content must agree (face expression, the high/typical/low level, heart rate and SCR within 5).
TOLERANCE = {
    "strict": {"p": 0.006, "z": 0.051, "st": 0.051, "bpm": 0.5, "scr": 0.5, "levels_only": False},
    "levels": {"p": 1.0, "z": float("inf"), "st": 2.0, "bpm": 5.0, "scr": 5.0, "levels_only": True},
}


def verify_rationale(
    text: str, cues: dict[str, Any], transcript: str | None = None, tolerance: str = "strict"
) -> list[str]:
    """Problems with a rationale: each stated cue must be measured and agree with the measured value (or, with
    tolerance="levels", its level); an empty list means every claim is grounded."""
    return grounding(text, cues, transcript, tolerance)[1]


def grounding(
    text: str, cues: dict[str, Any], transcript: str | None = None, tolerance: str = "strict"
) -> tuple[int, list[str]]:
    """(number of claims read, problems): one problem per claim that disagrees with the measured cues, plus one
    for cue words outside any checkable claim."""
    tol = TOLERANCE[tolerance]
    problems, rest, claims = [], text, 0
    for kind, pattern in CLAIMS.items():
        for m in pattern.finditer(text):
            claims += 1
            problems += _check_claim(kind, m, cues, transcript, tol)
        rest = pattern.sub(" ", rest)
    stray = CUE_WORDS.findall(rest)
    if stray:
        claims += 1
        problems.append(f"cue words outside any checkable claim: {sorted({s.lower() for s in stray})}")
    return claims, problems


def _check_claim(
    kind: str, m: re.Match, cues: dict[str, Any], transcript: str | None, tol: dict[str, Any]
) -> list[str]:
    face, voice, body = cues.get("face"), cues.get("voice"), cues.get("physiology") or {}
    if kind == "face":
        ok = face and face["expression"] == m[1].lower() and abs(face["p"] - float(m[2])) < tol["p"]
        return [] if ok else [f"face claim {m[0]!r} not measured as such ({face})"]
    if kind == "voice_z":
        z = (voice or {}).get("z", {}).get(VOICE_KEY[m[1].lower()])
        stated = float(m[3])
        level_ok = (
            _level(z) == m[2].lower()
            if tol["levels_only"] and z is not None
            else _level(stated) == m[2].lower()
        )
        ok = z is not None and abs(z - stated) < tol["z"] and level_ok
        return [] if ok else [f"voice claim {m[0]!r} not measured as such ({voice})"]
    if kind == "pitch_abs":
        ok = voice is not None and abs(voice["pitch"] - float(m[1])) < tol["st"]
        return [] if ok else [f"pitch claim {m[0]!r} not measured as such"]
    if kind == "heart":
        ok = (
            "hr" in body
            and abs(body["hr"] - float(m[1])) <= tol["bpm"]
            and abs(body["hr_change"] - float(m[2])) <= tol["bpm"]
        )
        return [] if ok else [f"heart-rate claim {m[0]!r} not measured as such ({body})"]
    if kind == "scr":
        ok = "scr" in body and abs(body["scr"] - float(m[1])) <= tol["scr"]
        return [] if ok else [f"SCR claim {m[0]!r} not measured as such ({body})"]
    if kind == "text":
        quoted = re.findall(r'"([^"]+)"', m[1])
        said = (transcript or "").lower()
        bad = [q for q in quoted if q.lower() not in said]
        return [f"transcript claim quotes {bad} not in the transcript"] if bad else []
    named = {w.strip().lower() for w in m[1].split(" or ")}
    actual = {MODALITY_WORDS[x] for x in cues.get("missing", [])}
    return [] if named <= actual else [f"says {sorted(named - actual)} missing, but it was present"]


def complete_clauses(rationale: str) -> str:
    """The rationale without an unfinished last clause (cut by the generation length limit)."""
    text = rationale.rstrip()
    if text.endswith(".") and not text[-2:-1].isdigit():
        return text
    return text[: max(text.rfind("; "), text.rfind(". ") + 1, 0)]


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
                feats = enc.features(ref) if hasattr(enc, "features") else enc.prepare(ref)
            except (MediaError, ValueError, FileNotFoundError) as exc:
                bad.append({"sample": sample.id, "modality": modality, "reason": str(exc)})
                continue
            found = cues_from_features(enc, np.asarray(feats))
            if found:
                cues[found[0]] = found[1]
        all_cues.append(cues)
    add_relative_levels(all_cues, [s.speaker for s in samples])
    return all_cues, bad


def annotate_records(
    records: list[dict[str, Any]], samples: list[Any], encoders: dict[str, Any]
) -> dict[str, Any]:
    """Write `rationale` and `meta.measured` into JSONL records (matched to samples by id); return a summary."""
    all_cues, bad = measure_samples(samples, encoders)
    by_id = {s.id: (s, c) for s, c in zip(samples, all_cues, strict=True)}
    failed = 0
    for record in records:
        if record.get("id") not in by_id:
            continue
        sample, cues = by_id[record["id"]]
        record["rationale"] = describe(cues)
        record.setdefault("meta", {})["measured"] = cues
        failed += bool(verify_rationale(record["rationale"], cues, sample.text))
    return {"annotated": len(by_id), "bad": bad, "ungrounded": failed}


def annotate_file(
    cfg: Any, data: str | Path, out: str | Path, cache_root: str | Path | None = None
) -> dict[str, Any]:
    """`emollm rationales`: measure cues with the config's encoders (through the feature cache) and write a copy of
    `data` with cue-grounded rationales to `out` (media paths kept valid relative to `out`)."""

    data, out = Path(data), Path(out)
    samples, bad_records = load_samples(data, get_labels(cfg.data.labels), [cfg.data.media_root])
    plain = {m: build_encoder(mc.encoder, m, **mc.encoder_args) for m, mc in cfg.modalities.items()}
    encoders = cached_encoders(plain, cache_root or cfg.data.cache_dir)
    records = [r for _, r, err in iter_jsonl(data) if err is None]
    summary = annotate_records(records, samples, encoders)
    write_jsonl(out, [rebase_media(r, data.parent, out.parent) for r in records])
    for enc in encoders.values():
        getattr(getattr(enc, "cache", None), "flush", lambda: None)()
    summary["bad_records"] = len(bad_records)
    summary["out"] = str(out)
    return summary
