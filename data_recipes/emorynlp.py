"""EmoryNLP (Zahiri & Choi, 2018) transcripts -> Sample JSONL (train/dev, and test when its CSV is present).

Reads `emorynlp_{train,dev,test}_final.csv` (the MELD repository's `data/emorynlp/` layout). `Speaker` is a Python
list written as text (`['Monica Geller']`); it is parsed with `ast.literal_eval` (literals only), and several
speakers are joined with " & ". Samples are keyed by (Season, Episode, Scene_ID, Utterance_ID); labels are
lower-cased (Joyful -> joyful). Up to three previous utterances of the scene are kept in `meta.context`.
"""

from __future__ import annotations

import ast
from pathlib import Path

from data_recipes.common import Conversion, csv_rows, find_root

FILES = {
    "train": "emorynlp_train_final.csv",
    "dev": "emorynlp_dev_final.csv",
    "test": "emorynlp_test_final.csv",
}
VERSION = 1


def parse_speakers(text: str) -> list[str]:
    """`"['A', 'B']"` -> ["A", "B"]; a bare name is one speaker; anything else raises ValueError."""
    text = text.strip()
    if not text.startswith("["):
        return [text] if text else []
    value = ast.literal_eval(text)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"Speaker is not a list of names: {text!r}")
    return [v.strip() for v in value]


def read_split(conv: Conversion, path: Path, split: str) -> None:
    """Add one split's records, reporting malformed rows and unknown labels."""
    history: dict[tuple[str, ...], list[str]] = {}
    for lineno, row in csv_rows(path, conv):
        try:
            speakers = parse_speakers(row["Speaker"])
            key = tuple(str(int(row[k])) for k in ("Season", "Episode", "Scene_ID", "Utterance_ID"))
            text = row["Utterance"].strip()
            emotion = conv.label(row["Emotion"].strip().lower(), path, lineno)
        except (KeyError, AttributeError, ValueError, SyntaxError) as exc:
            conv.report(path, lineno, f"malformed row ({exc})")
            continue
        if emotion is None:
            continue
        season, episode, scene, utt = key
        speaker = " & ".join(speakers) or None
        context = history.setdefault(key[:3], [])
        conv.add(
            {
                "id": f"emorynlp-{split}-s{season}e{episode}c{scene}u{utt}",
                "split": split,
                "speaker": speaker,
                "text": text,
                "labels": {"emotion": emotion},
                "meta": {
                    "speakers": speakers,
                    "scene": f"s{season}e{episode}c{scene}",
                    "context": context[-3:],
                },
            },
            path,
            lineno,
        )
        context.append(f"{speaker or 'someone'}: {text}")


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """Convert the EmoryNLP splits present under `root` (train and dev are required)."""
    src = find_root(root, "emorynlp", FILES["train"], ("emorynlp", "data/emorynlp"))
    conv = Conversion("emorynlp", "emorynlp", VERSION, src, Path(out))
    for split, name in FILES.items():
        if not (src / name).is_file():
            if split != "test":
                raise FileNotFoundError(f"emorynlp: {src / name} not found")
            conv.notes["missing_splits"] = ["test"]
            continue
        conv.checksum(src / name)
        read_split(conv, src / name, split)
    return conv.write(limit, seed)
