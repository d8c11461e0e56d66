"""MER2023 (Lian et al., ACM MM 2023) -> Sample JSONL. Reads label tables as CSV:

    label-disdim.csv            name, discrete, valence       (the labelled training pool; valence -5..5)
    label-disdim-test*.csv      same columns, optional        (test sets whose labels were released later)
    label-transcription.csv     name, chinese, english        (optional ASR transcripts)
    video/{name}.mp4|.avi

The original `label-6way.npz` stores Python objects and needs pickle to read; emollm does not unpickle corpus
files, so that file is refused with a pointer to the CSV form (the MER2024 release ships it; or export it once
from trusted code). MER2023 has no speakers and no official validation split: dev is a stable 10% hash split of
the training pool, and test comes from the test CSVs, or another 10% hash split when there are none.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from data_recipes.common import Conversion, csv_rows, find_root, hash_split
from emollm.labels import normalise_va

VERSION = 1


def _find(root: str | None) -> Path:
    """The MER2023 folder; the pickled label-6way.npz release is refused by name."""
    if (
        root is not None
        and not (Path(root) / "label-disdim.csv").is_file()
        and (Path(root) / "label-6way.npz").is_file()
    ):
        raise ValueError(
            f"mer2023: {Path(root) / 'label-6way.npz'} holds pickled Python objects, which emollm does not load; "
            "provide label-disdim.csv (name,discrete,valence) instead"
        )
    return find_root(root, "mer2023", "label-disdim.csv")


def _transcripts(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["name"]: (r.get("english") or r.get("chinese") or "").strip() for r in csv.DictReader(fh)}


def _read(conv: Conversion, table: Path, texts: dict[str, str], test_file: bool, has_tests: bool) -> None:
    for lineno, row in csv_rows(table, conv):
        try:
            name, valence = row["name"].strip(), float(row["valence"])
            if not math.isfinite(valence):
                raise ValueError("valence is not finite")
        except (KeyError, AttributeError, ValueError) as exc:
            conv.report(table, lineno, f"malformed row ({exc})")
            continue
        emotion = conv.label(row["discrete"].strip().lower(), table, lineno)
        video = next(
            (
                conv.root / "video" / f"{name}{e}"
                for e in (".mp4", ".avi")
                if (conv.root / "video" / f"{name}{e}").is_file()
            ),
            conv.root / "video" / f"{name}.mp4",
        )
        ref = conv.media(video, table, lineno) if emotion else None
        if ref is None:
            continue
        split = "test" if test_file else hash_split(name, 0.1, 0.0 if has_tests else 0.1)
        conv.add(
            {
                "id": f"mer2023-{name}",
                "split": split,
                "text": texts.get(name) or None,
                "media": {"video": ref},
                "labels": {
                    "emotion": emotion,
                    "valence": normalise_va("mer2023", valence),
                    "valence_raw": valence,
                },
            },
            table,
            lineno,
        )


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """Convert the labelled pool (and any released test labels)."""
    src = _find(root)
    conv = Conversion("mer2023", "mer2023", VERSION, src, Path(out))
    texts = _transcripts(src / "label-transcription.csv")
    tests = sorted(src.glob("label-disdim-test*.csv"))
    for table in [src / "label-disdim.csv", *tests]:
        conv.checksum(table)
        _read(conv, table, texts, table in tests, bool(tests))
    conv.notes["metric"] = (
        "MER2023 score = weighted-F1 - 0.25 x valence MSE (emollm.evaluation.metrics.mer2023_score)"
    )
    return conv.write(limit, seed)
