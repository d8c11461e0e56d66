"""eNTERFACE'05 (Martin et al., 2006) -> Sample JSONL from the release layout
`subject N/{anger,disgust,fear,happiness,sadness,surprise}/sentence K/sN_{an,di,fe,ha,sa,su}_K.avi` (a few subjects
lack the `sentence K` level; any depth below the emotion folder is accepted). The avi carries the audio track, used
as the audio modality. Subject-independent splits: subjects 39-44 test, 35-38 dev, the rest train.
"""

from __future__ import annotations

import re
from pathlib import Path

from data_recipes.common import Conversion, assign_split, find_root

VERSION = 1
FOLDERS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
CODES = {"an": "anger", "di": "disgust", "fe": "fear", "ha": "happiness", "sa": "sadness", "su": "surprise"}
NAME = re.compile(r"^s_?(?P<subject>\d+)_(?P<code>[a-z]{2})_(?P<sentence>\d+)$")
TEST = [str(s) for s in range(39, 45)]
DEV = [str(s) for s in range(35, 39)]


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """Convert every clip; the folder's emotion must agree with the file name's code."""
    src = find_root(root, "enterface", "subject 1", ("enterface database", "eNTERFACE05"))
    conv = Conversion("enterface", "enterface", VERSION, src, Path(out))
    for avi in sorted(src.glob("subject */*/**/*.avi")):
        subject = avi.relative_to(src).parts[0].split()[-1]
        folder = avi.relative_to(src).parts[1]
        m = NAME.match(avi.stem)
        if folder not in FOLDERS or m is None or m["code"] not in CODES:
            conv.report(avi, None, f"unknown emotion folder/code ({folder}/{avi.name})")
            continue
        if CODES[m["code"]] != folder:
            conv.report(avi, None, f"file code {m['code']!r} disagrees with folder {folder!r}")
            continue
        video = conv.media(avi, avi, None)
        if video is None:
            continue
        conv.add(
            {
                "id": f"enterface-s{subject}-{m['code']}-{m['sentence']}",
                "split": assign_split(subject, TEST, DEV),
                "speaker": f"subject{subject}",
                "media": {"video": video},
                "labels": {"emotion": folder},
                "meta": {"sentence": int(m["sentence"])},
            },
            avi,
            None,
        )
    conv.notes["folds"] = "leave-one-subject-out over all.jsonl"
    return conv.write(limit, seed, write_all=True)
