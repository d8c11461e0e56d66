"""CMU-MOSI (Zadeh et al., 2016) and CMU-MOSEI (Zadeh et al., 2018) -> Sample JSONL, from the widely used MMSA
release layout (the raw clips plus one label table):

    label.csv                  video_id, clip_id, text, label, label_T, label_A, label_V, annotation, mode
    Raw/{video_id}/{clip_id}.mp4

`label` is the sentiment score on the -3..3 scale (kept as `labels.sentiment`, normalised to [-1, 1] as valence);
the discrete label is its polarity (`sentiment3`: negative < 0, neutral = 0, positive > 0). The official folds are
the `mode` column (train / valid / test). Metric conventions (Acc-2 has-0 and non-0, Acc-7, F1) are in
`emollm.evaluation.metrics.mosi_metrics`. The CMU-MultimodalSDK `.csd` (HDF5) release is not read.
"""

from __future__ import annotations

import math
from pathlib import Path

from data_recipes.common import Conversion, csv_rows, find_root
from emollm.labels import normalise_va

VERSION = 1
SPLITS = {"train": "train", "valid": "dev", "test": "test"}


def polarity(score: float) -> str:
    """The sentiment3 label of a -3..3 score."""
    return "negative" if score < 0 else "positive" if score > 0 else "neutral"


def convert_corpus(corpus: str, root: str | None, out: str, limit: int | None, seed: int) -> dict:
    """Convert one MMSA-layout corpus (`mosi` or `mosei`)."""
    src = find_root(root, corpus, "label.csv", (corpus.upper(), f"CMU-{corpus.upper()}"))
    conv = Conversion(corpus, "sentiment3", VERSION, src, Path(out))
    table = src / "label.csv"
    conv.checksum(table)
    for lineno, row in csv_rows(table, conv):
        try:
            vid, clip, mode = row["video_id"].strip(), row["clip_id"].strip(), row["mode"].strip()
            score = float(row["label"])
            if not math.isfinite(score) or not -3 <= score <= 3:
                raise ValueError(f"label {row['label']!r} outside -3..3")
            if mode not in SPLITS:
                raise ValueError(f"mode {mode!r} is not train/valid/test")
        except (KeyError, AttributeError, ValueError) as exc:
            conv.report(table, lineno, f"malformed row ({exc})")
            continue
        video = conv.media(src / "Raw" / vid / f"{clip}.mp4", table, lineno)
        if video is None:
            continue
        conv.add(
            {
                "id": f"{corpus}-{vid}-{clip}",
                "split": SPLITS[mode],
                "speaker": vid,
                "text": (row.get("text") or "").strip() or None,
                "media": {"video": video},
                "labels": {
                    "emotion": polarity(score),
                    "sentiment": score,
                    "valence": normalise_va(corpus, score),
                },
                "meta": {"video_id": vid, "clip_id": clip},
            },
            table,
            lineno,
        )
    conv.notes["task"] = "sentiment regression -3..3; polarity classes"
    return conv.write(limit, seed)


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """CMU-MOSI."""
    return convert_corpus("mosi", root, out, limit, seed)


def convert_mosei(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """CMU-MOSEI."""
    return convert_corpus("mosei", root, out, limit, seed)
