"""RAVDESS (Livingstone & Russo, 2018) -> Sample JSONL from the unpacked `Actor_XX/` folders, decoding the
filename codes `MM-VV-EE-II-SS-RR-AA.ext`: modality (01 audio-video, 02 video-only, 03 audio-only), vocal channel
(01 speech, 02 song), emotion (01-08), intensity (01 normal, 02 strong), statement (01, 02), repetition, actor
(odd = male). The audio-only wav and the audio-video mp4 of the same take form one sample (video-only files are
used when no audio-video file is there). Actor-independent splits: actors 21-24 test, 19-20 dev, 1-18 train.
"""

from __future__ import annotations

from pathlib import Path

from data_recipes.common import Conversion, assign_split, find_root

VERSION = 1
EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}  # fmt: skip
STATEMENTS = {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}
TEST = [f"{a:02d}" for a in range(21, 25)]
DEV = ["19", "20"]


def _decode(path: Path) -> dict[str, str] | None:
    parts = path.stem.split("-")
    if len(parts) != 7 or not all(len(p) == 2 and p.isdigit() for p in parts):
        return None
    keys = ("modality", "channel", "emotion", "intensity", "statement", "repetition", "actor")
    code = dict(zip(keys, parts, strict=True))
    valid = (
        code["modality"] in ("01", "02", "03")
        and code["channel"] in ("01", "02")
        and code["intensity"] in ("01", "02")
        and code["statement"] in STATEMENTS
        and 1 <= int(code["actor"]) <= 24
    )
    return code if valid else None


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """Group the audio-only and audio-video files of each take into one sample."""
    src = find_root(root, "ravdess", "Actor_01", ("RAVDESS",))
    conv = Conversion("ravdess", "ravdess", VERSION, src, Path(out))
    takes: dict[str, dict[str, Path]] = {}
    codes: dict[str, dict[str, str]] = {}
    for path in sorted(src.glob("Actor_*/*")):
        if path.suffix.lower() not in (".wav", ".mp4"):
            continue
        code = _decode(path)
        if code is None:
            conv.report(path, None, "file name is not a valid RAVDESS code MM-VV-EE-II-SS-RR-AA")
            continue
        if code["emotion"] not in EMOTIONS:
            conv.report(path, None, f"unknown emotion code {code['emotion']!r}")
            continue
        if path.parent.name != f"Actor_{code['actor']}":
            conv.report(path, None, f"actor {code['actor']} in the name but folder {path.parent.name}")
            continue
        take = path.stem[3:]
        takes.setdefault(take, {})[code["modality"]] = path
        codes[take] = code
    for take, files in sorted(takes.items()):
        code, media = codes[take], {}
        video = files.get("01") or files.get("02")
        if video is not None:
            media["video"] = conv.media(video, video, None)
        if "03" in files:
            media["audio"] = conv.media(files["03"], files["03"], None)
        media = {m: r for m, r in media.items() if r}
        if not media:
            continue
        conv.add(
            {
                "id": f"ravdess-{take}",
                "split": assign_split(code["actor"], TEST, DEV),
                "speaker": f"actor{code['actor']}",
                "text": STATEMENTS[code["statement"]],
                "media": media,
                "labels": {"emotion": EMOTIONS[code["emotion"]]},
                "meta": {
                    "channel": "speech" if code["channel"] == "01" else "song",
                    "intensity": "normal" if code["intensity"] == "01" else "strong",
                    "repetition": int(code["repetition"]),
                    "sex": "m" if int(code["actor"]) % 2 else "f",
                },
            },
            video or files["03"],
            None,
        )
    conv.notes["folds"] = "actor-independent; all.jsonl for leave-one-actor-out"
    return conv.write(limit, seed, write_all=True)
