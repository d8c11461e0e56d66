"""EmoDB (Burkhardt et al., Interspeech 2005) -> Sample JSONL: one `all.jsonl` with a speaker per utterance (the
usual protocol is leave-one-speaker-out: `emollm baseline --loso`). Reads `labels.csv` (file, speaker, text_id,
emotion, sex) and `wav/`; media paths are written relative to the output folder."""

from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter
from pathlib import Path

from emollm.io import atomic_write_json, write_jsonl
from emollm.labels import get_labels

VERSION = 1


def _find_root(root: str | Path) -> Path:
    root = Path(root)
    for candidate in (root, root / "emodb"):
        if (candidate / "labels.csv").is_file() and (candidate / "wav").is_dir():
            return candidate
    raise FileNotFoundError(f"EmoDB labels.csv + wav/ not found under {root}")


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """Write OUT/all.jsonl (+ manifest.json); bad rows (unknown label, missing wav) are reported, not kept."""
    if root is None:
        raise ValueError("emodb needs --root (the folder holding labels.csv and wav/)")
    src, out_dir = _find_root(root), Path(out)
    labels = get_labels("emodb")
    records, bad = [], []
    with (src / "labels.csv").open(newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.DictReader(fh), 2):
            wav = src / "wav" / row["file"]
            if row["emotion"] not in labels:
                bad.append(
                    {
                        "file": str(src / "labels.csv"),
                        "line": lineno,
                        "reason": f"unknown label {row['emotion']!r}",
                    }
                )
                continue
            if not wav.is_file():
                bad.append({"file": str(wav), "line": lineno, "reason": "wav file not found"})
                continue
            records.append(
                {
                    "id": f"emodb-{Path(row['file']).stem}",
                    "corpus": "emodb",
                    "split": "all",
                    "speaker": row["speaker"],
                    "text": None,
                    "media": {"audio": os.path.relpath(wav, out_dir)},
                    "labels": {"emotion": row["emotion"]},
                    "meta": {"text_id": row["text_id"], "sex": row["sex"]},
                }
            )
    records = records[:limit] if limit else records
    write_jsonl(out_dir / "all.jsonl", [{k: v for k, v in r.items() if v is not None} for r in records])
    manifest = {
        "corpus": "emodb",
        "recipe_version": VERSION,
        "n": len(records),
        "bad": bad,
        "labels": dict(Counter(r["labels"]["emotion"] for r in records)),
        "speakers": dict(Counter(r["speaker"] for r in records)),
        "inputs": {"labels.csv": hashlib.sha256((src / "labels.csv").read_bytes()).hexdigest()},
    }
    atomic_write_json(out_dir / "manifest.json", manifest)
    return manifest
