"""SAVEE (Haq & Jackson, 2009) -> Sample JSONL from the release layout `AudioData/{DC,JE,JK,KL}/{code}{NN}.wav`
(codes a anger, d disgust, f fear, h happiness, n neutral, sa sadness, su surprise) with the matching
`AudioVisualClip/{speaker}/{code}{NN}.avi` as video when present. Four male speakers: KL test, JK dev, DC + JE
train; `all.jsonl` serves leave-one-speaker-out.
"""

from __future__ import annotations

import re
from pathlib import Path

from data_recipes.common import Conversion, assign_split, find_root

VERSION = 1
CODES = {
    "a": "anger",
    "d": "disgust",
    "f": "fear",
    "h": "happiness",
    "n": "neutral",
    "sa": "sadness",
    "su": "surprise",
}
NAME = re.compile(r"^(?P<code>[a-z]{1,2})(?P<num>\d\d)$")
SPEAKERS = ("DC", "JE", "JK", "KL")


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """Convert every wav of the four speakers."""
    src = find_root(root, "savee", "AudioData", ("SAVEE",))
    conv = Conversion("savee", "savee", VERSION, src, Path(out))
    for wav in sorted((src / "AudioData").glob("*/*.wav")):
        speaker, m = wav.parent.name, NAME.match(wav.stem)
        if speaker not in SPEAKERS:
            conv.report(wav, None, f"unknown speaker folder {speaker!r}")
            continue
        if m is None or m["code"] not in CODES:
            conv.report(wav, None, f"unknown emotion code in file name {wav.name!r}")
            continue
        media = conv.audio_with_video(wav, src / "AudioVisualClip" / speaker / f"{wav.stem}.avi")
        if media is None:
            continue
        conv.add(
            {
                "id": f"savee-{speaker}-{wav.stem}",
                "split": assign_split(speaker, ["KL"], ["JK"]),
                "speaker": speaker,
                "media": media,
                "labels": {"emotion": CODES[m["code"]]},
            },
            wav,
            None,
        )
    conv.notes["folds"] = "leave-one-speaker-out over all.jsonl"
    return conv.write(limit, seed, write_all=True)
