"""CREMA-D (Cao et al., 2014) -> Sample JSONL from the GitHub/LFS layout:

    AudioWAV/{actor}_{sentence}_{emotion}_{level}.wav      e.g. 1001_DFA_ANG_XX.wav
    VideoFlash/{same}.flv                                  (optional)
    processedResults/tabulatedVotes.csv                    perceived votes: fileName, emoVote, agreement, ...
    VideoDemographics.csv                                  ActorID, Age, Sex, Race, Ethnicity (optional)

`--opt label=intended` (default) takes the acted emotion from the file name; `label=perceived` takes the crowd's
`emoVote` (ties such as `A:H` are left out and counted). Votes and agreement are kept in `meta` either way.
Actor-independent splits: actors 1083-1091 test, 1074-1082 dev, the rest train.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from data_recipes.common import Conversion, assign_split, find_root

VERSION = 1
EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
VOTES = {"A": "anger", "D": "disgust", "F": "fear", "H": "happy", "N": "neutral", "S": "sad"}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
SENTENCES = {
    "IEO": "It's eleven o'clock.", "TIE": "That is exactly what happened.", "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.", "TAI": "The airplane is almost full.", "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.", "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.", "ITS": "I think I've seen this before.", "TSI": "The surface is slick.",
    "WSI": "We'll stop in a couple of minutes.",
}  # fmt: skip
TEST = [str(a) for a in range(1083, 1092)]
DEV = [str(a) for a in range(1074, 1083)]


def _table(path: Path, key: str) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {row[key].strip(): row for row in csv.DictReader(fh) if row.get(key)}


def convert(
    root: str | None, out: str, limit: int | None = None, seed: int = 0, label: str = "intended"
) -> dict:
    """Convert every AudioWAV file (with its video when present)."""
    if label not in ("intended", "perceived"):
        raise ValueError(f"cremad: label must be 'intended' or 'perceived', got {label!r}")
    src = find_root(root, "cremad", "AudioWAV", ("CREMA-D",))
    conv = Conversion("cremad", "cremad", VERSION, src, Path(out))
    votes_path = src / "processedResults" / "tabulatedVotes.csv"
    votes, demo = _table(votes_path, "fileName"), _table(src / "VideoDemographics.csv", "ActorID")
    for p in (votes_path, src / "VideoDemographics.csv"):
        if p.is_file():
            conv.checksum(p)
    if label == "perceived" and not votes:
        raise FileNotFoundError(f"cremad: label=perceived needs {votes_path}")
    excluded = Counter()
    for wav in sorted((src / "AudioWAV").glob("*.wav")):
        parts = wav.stem.split("_")
        if len(parts) != 4 or not parts[0].isdigit() or parts[1] not in SENTENCES or parts[3] not in LEVELS:
            conv.report(wav, None, "file name is not ACTOR_SENTENCE_EMOTION_LEVEL")
            continue
        actor, sentence, code, level = parts
        if code not in EMOTIONS:
            conv.report(wav, None, f"unknown emotion code {code!r}")
            continue
        vote = votes.get(wav.stem, {})
        emotion = EMOTIONS[code]
        if label == "perceived":
            emotion = VOTES.get(vote.get("emoVote", "").strip(), "")
            if not emotion:
                excluded[vote.get("emoVote", "no vote") or "no vote"] += 1
                continue
        media = conv.audio_with_video(wav, src / "VideoFlash" / f"{wav.stem}.flv")
        if media is None:
            continue
        conv.add(
            {
                "id": f"cremad-{wav.stem}",
                "split": assign_split(actor, TEST, DEV),
                "speaker": actor,
                "text": SENTENCES[sentence],
                "media": media,
                "labels": {"emotion": emotion},
                "meta": {
                    "intended": EMOTIONS[code],
                    "level": LEVELS[level],
                    "vote": vote.get("emoVote"),
                    "agreement": float(vote["agreement"]) if vote.get("agreement") else None,
                    "sex": demo.get(actor, {}).get("Sex"),
                },
            },
            wav,
            None,
        )
    conv.notes.update({"label_source": label, "excluded": dict(excluded)})
    return conv.write(limit, seed, write_all=True)
