"""The generated tri-modal corpus (GENERATED DATA, not recordings): seeded, with emotion structure in every modality.

Two forms share the label structure below: feature files (default) or raw media (`media=True`: an mp4 face video,
a wav voice and an ECG/EDA/respiration CSV per sample, see `synthetic_media`).

Each sample has an emotion from `synthetic4` placed on the valence/arousal circumplex
(neutral (0, 0), happy (+1, +0.6), sad (-0.8, -0.7), angry (-0.8, +0.8)) and an intensity in [0.5, 1]. Every
modality is a time series of interpretable latent cues, mixed into frame features by a fixed random matrix plus noise,
with a per-speaker offset:

- video (face, 32-d frames, 6-12 frames): smile = +valence, brow furrow = -valence, eye opening = +arousal/6.
  It separates valence well and arousal poorly, so alone it confuses sad with angry.
- audio (voice, 24-d frames, 10-20 frames): pitch, energy and speaking rate = +arousal. Alone it confuses happy with
  angry.
- sensor (physiology, 8-d windows, 4-8 windows): heart rate, skin conductance level and SCR rate = +arousal, noisier.
- text: 40% of transcripts contain a word that names the emotion; the rest are neutral filler.

So video + audio together carry the full label, each alone carries half of it, and removing a modality shows what it
carried. About 10% of samples lack one of the three media (no placeholder, never zeros).

Cross-modal agreement is controllable: with `conflict_rate` > 0, that fraction of samples has one of its face/voice
channels driven by a different emotion (a smile over an angry voice, say); the gold label stays the sample's
emotion and `meta.conflict` names the modality and the emotion it shows. Conflicts are drawn from a separate random
stream, so `conflict_rate=0` (the default) gives the same samples and media as before the option existed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from emollm.data.synthetic_media import describe_media_cues, write_sample_media
from emollm.faults import kill_point
from emollm.io import atomic_write_json, write_jsonl

VERSION = 1
EMOTIONS = {"neutral": (0.0, 0.0), "happy": (1.0, 0.6), "sad": (-0.8, -0.7), "angry": (-0.8, 0.8)}
DIMS = {"video": 32, "audio": 24, "sensor": 8}
FRAMES = {"video": (6, 12), "audio": (10, 20), "sensor": (4, 8)}
NOISE = {"video": 0.55, "audio": 0.55, "sensor": 0.9}
CUE_NAMES = {
    "video": ("smile", "brow_furrow", "eye_opening"),
    "audio": ("pitch", "energy", "speech_rate"),
    "sensor": ("heart_rate", "skin_conductance", "scr_rate"),
}
WORDS = {
    "neutral": ["fine", "okay"],
    "happy": ["thrilled", "wonderful", "great"],
    "sad": ["miserable", "heartbroken", "down"],
    "angry": ["furious", "outraged", "sick of"],
}
FILLER = [
    "I went to the store this morning.",
    "We talked about the schedule for next week.",
    "The meeting was moved to Thursday.",
    "She said the train would be late.",
    "I have to call my brother later.",
    "They painted the kitchen last month.",
]
EMOTIVE = ["I am {w} about what happened.", "Honestly, I feel {w} right now.", "This news makes me {w}."]
SPLITS = {"train": range(0, 8), "dev": range(8, 10), "test": range(10, 12)}


@dataclass
class SyntheticSpec:
    """How many samples per split and the seed."""

    n_train: int = 480
    n_dev: int = 64
    n_test: int = 128
    seed: int = 0
    missing_rate: float = 0.1
    conflict_rate: float = 0.0
    """Fraction of samples whose face or voice expresses a different emotion than the gold label."""
    media: bool = False
    """Write raw media (mp4 face video, wav voice, sensor CSV; see `synthetic_media`) instead of feature files."""


def _latent(modality: str, valence: float, arousal: float) -> np.ndarray:
    """The 3 interpretable cue means for a modality at a circumplex point."""
    if modality == "video":
        return np.array([valence, -valence, arousal / 6])
    return np.array([arousal, arousal, arousal])


def _series(
    rng: np.random.Generator,
    modality: str,
    va: tuple[float, float],
    intensity: float,
    mixing: np.ndarray,
    speaker_bias: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Frame features [T, D] and the per-frame latent cues [T, 3] of one sample."""
    lo, hi = FRAMES[modality]
    t = int(rng.integers(lo, hi + 1))
    mean = _latent(modality, *va) * intensity
    drift = np.cumsum(rng.normal(0, 0.15, size=(t, 3)), axis=0) / np.sqrt(np.arange(1, t + 1))[:, None]
    cues = mean[None, :] + drift + rng.normal(0, NOISE[modality], size=(t, 3))
    feats = np.tanh(cues @ mixing) + speaker_bias[None, :] + rng.normal(0, 0.1, size=(t, mixing.shape[1]))
    return feats.astype(np.float32), cues


def describe_cues(cues: dict[str, np.ndarray]) -> str:
    """A rationale that states only measured cue values (means over frames) of the modalities present."""
    parts = []
    if "video" in cues:
        smile, brow, _ = cues["video"].mean(axis=0)
        face = "smiling" if smile > 0.3 else "frowning" if brow > 0.3 else "neutral"
        parts.append(f"face {face} (smile {smile:+.1f}, brow furrow {brow:+.1f})")
    if "audio" in cues:
        pitch, energy, _ = cues["audio"].mean(axis=0)
        level = "high" if pitch > 0.3 else "low" if pitch < -0.3 else "moderate"
        parts.append(f"voice {level} in pitch and energy ({pitch:+.1f}, {energy:+.1f})")
    if "sensor" in cues:
        hr, scl, _ = cues["sensor"].mean(axis=0)
        body = "elevated" if hr > 0.3 else "lowered" if hr < -0.3 else "at baseline"
        parts.append(f"heart rate {body} ({hr:+.1f} SD)")
    if not parts:
        return "Only the transcript is available."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def generate(out_dir: str | Path, spec: SyntheticSpec | None = None) -> dict[str, object]:
    """Write train/dev/test JSONL + feature files under `out_dir`; return the manifest."""
    spec = spec or SyntheticSpec()
    out = Path(out_dir)
    rng = np.random.default_rng(spec.seed)
    mixing = {m: rng.normal(0, 1 / np.sqrt(3), size=(3, d)) for m, d in DIMS.items()}
    speakers = {s: {m: rng.normal(0, 0.15, size=d) for m, d in DIMS.items()} for s in range(12)}
    media_rng = np.random.default_rng([spec.seed, 1])  # a separate stream: feature corpora stay unchanged
    traits = {
        s: {
            "tone": media_rng.integers(150, 225),
            "f0": media_rng.uniform(100, 220),
            "scl": media_rng.uniform(3, 7),
        }
        for s in range(12)
    }
    counts = {"train": spec.n_train, "dev": spec.n_dev, "test": spec.n_test}
    manifest: dict[str, object] = {
        "corpus": "synthetic",
        "generated": True,
        "version": VERSION,
        "seed": spec.seed,
        "media": spec.media,
        "splits": {},
    }
    labels = list(EMOTIONS)
    conflict_rng = np.random.default_rng([spec.seed, 2])
    manifest["conflict_rate"] = spec.conflict_rate
    for split, n in counts.items():
        records, tensors = [], {m: {} for m in DIMS}
        for i in range(n):
            emotion = labels[i % len(labels)]
            speaker = int(rng.choice(list(SPLITS[split])))
            media_ctx = (out, media_rng, traits[speaker]) if spec.media else None
            conflict = _draw_conflict(conflict_rng, emotion, spec.conflict_rate)
            record, feats = _make_sample(
                rng,
                f"syn-{split}-{i:05d}",
                split,
                emotion,
                speaker,
                spec,
                mixing,
                speakers[speaker],
                media_ctx,
                conflict,
            )
            records.append(record)
            for m, f in feats.items():
                tensors[m][record["id"]] = f
        order = rng.permutation(len(records))
        records = [records[j] for j in order]
        for m, tens in tensors.items():
            if tens:
                _save_atomic(tens, out / "features" / f"{split}.{m}.safetensors")
        write_jsonl(out / f"{split}.jsonl", records)
        kill_point("recipe.split")
        manifest["splits"][split] = {
            lab: sum(r["labels"]["emotion"] == lab for r in records) for lab in labels
        }
    atomic_write_json(out / "manifest.json", manifest)
    return manifest


def _save_atomic(tensors: dict[str, np.ndarray], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, path)


def _make_sample(
    rng: np.random.Generator,
    sid: str,
    split: str,
    emotion: str,
    speaker: int,
    spec: SyntheticSpec,
    mixing: dict[str, np.ndarray],
    bias: dict[str, np.ndarray],
    media_ctx: tuple | None = None,
    conflict: dict[str, str] | None = None,
) -> tuple[dict, dict[str, np.ndarray]]:
    va = EMOTIONS[emotion]
    shown = {m: EMOTIONS[(conflict or {}).get(m, emotion)] for m in DIMS}
    intensity = float(rng.uniform(0.5, 1.0))
    present = list(DIMS)
    if rng.random() < spec.missing_rate:
        present.remove(present[int(rng.integers(len(present)))])
    feats, cues = {}, {}
    if media_ctx is None:
        for m in present:
            feats[m], cues[m] = _series(rng, m, shown[m], intensity, mixing[m], bias[m])
        media = {m: f"features/{split}.{m}.safetensors#{sid}" for m in present}
        rationale = describe_cues(cues)
        measured = {
            m: dict(zip(CUE_NAMES[m], np.round(c.mean(axis=0), 4).tolist(), strict=True))
            for m, c in cues.items()
        }
    else:
        out, media_rng, traits = media_ctx
        media, measured = write_sample_media(
            out,
            sid,
            media_rng,
            {m: (v * intensity, a * intensity) for m, (v, a) in shown.items()},
            traits,
            present,
        )
        rationale = describe_media_cues(measured)
    if rng.random() < 0.4:
        word = str(rng.choice(WORDS[emotion]))
        text = str(rng.choice(EMOTIVE)).format(w=word)
    else:
        text = str(rng.choice(FILLER))
    record = {
        "id": sid,
        "corpus": "synthetic",
        "split": split,
        "speaker": f"spk{speaker:02d}",
        "text": text,
        "media": media,
        "labels": {
            "emotion": emotion,
            "valence": round(va[0] * intensity, 4),
            "arousal": round(va[1] * intensity, 4),
        },
        "rationale": rationale,
        "meta": {
            "cues": measured,
            "intensity": round(intensity, 4),
            **({"conflict": conflict} if conflict else {}),
        },
    }
    return record, feats


def _draw_conflict(rng: np.random.Generator, emotion: str, rate: float) -> dict[str, str] | None:
    """With probability `rate`, one of face/voice shows another emotion: {modality: shown emotion}."""
    if rate <= 0 or rng.random() >= rate:
        return None
    modality = str(rng.choice(["video", "audio"]))
    other = [e for e in EMOTIONS if e != emotion]
    return {modality: str(rng.choice(other))}
