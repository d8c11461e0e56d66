"""Cue-grounded rationales: verify that a rationale claims only cues that were measured (`emollm.cues` measures and
words them), and write measured rationales into JSONL splits.

Cues of one sample (stored as `meta.measured`):
    {"text": {"phrases": [...]},
     "voice": {"pitch": st, "loudness": sone, "voiced_rate": 1/s, "z": {"pitch": .., ...}},
     "face": {"expression": "happy", "p": 0.82},
     "physiology": {"hr": bpm, "hr_change": bpm, "scr": per min},
     "missing": ["video", ...]}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from emollm.cues import (
    MODALITY_WORDS,
    describe,
    level_of,
    measure_samples,
)
from emollm.data.sample import load_samples, rebase_media
from emollm.encoders import build_encoder
from emollm.encoders.cache import cached_encoders
from emollm.io import iter_jsonl, write_jsonl
from emollm.labels import get_labels


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
            level_of(z) == m[2].lower()
            if tol["levels_only"] and z is not None
            else level_of(stated) == m[2].lower()
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
