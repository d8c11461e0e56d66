"""MELD (Poria et al., ACL 2019) transcripts -> Sample JSONL. Text only here (the shared copy has no media).

Reads `{train,dev,test}_sent_emo.csv` from the official repository layout; keys samples by
(Dialogue_ID, Utterance_ID), which is unique per split (`Sr No.` is not). The previous utterances of the dialogue
are kept in `meta.context` for prompts that use dialogue context.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections import Counter
from pathlib import Path

from emollm.io import atomic_write_json, write_jsonl
from emollm.labels import get_labels

FILES = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
VERSION = 1


def _find_root(root: str | Path) -> Path:
    root = Path(root)
    for candidate in (root, root / "meld", root / "data" / "MELD"):
        if (candidate / FILES["train"]).is_file():
            return candidate
    raise FileNotFoundError(f"MELD CSVs ({', '.join(FILES.values())}) not found under {root}")


def read_split(path: Path, split: str) -> tuple[list[dict], list[dict]]:
    """Records of one split CSV and a report of bad rows (file, line, reason)."""
    labels = get_labels("meld")
    records, bad, history = [], [], {}
    with path.open(encoding="utf-8", newline="") as fh:
        for lineno, row in enumerate(csv.DictReader(fh), 2):
            emotion = (row.get("Emotion") or "").strip().lower()
            if emotion not in labels:
                bad.append(
                    {"file": str(path), "line": lineno, "reason": f"unknown emotion {row.get('Emotion')!r}"}
                )
                continue
            dia, utt = row["Dialogue_ID"].strip(), row["Utterance_ID"].strip()
            context = history.setdefault(dia, [])
            records.append(
                {
                    "id": f"meld-{split}-d{dia}-u{utt}",
                    "corpus": "meld",
                    "split": split,
                    "speaker": row["Speaker"].strip(),
                    "text": row["Utterance"].strip(),
                    "labels": {"emotion": emotion, "sentiment": row["Sentiment"].strip().lower()},
                    "meta": {"dialogue": int(dia), "utterance": int(utt), "context": context[-3:]},
                }
            )
            context.append(f"{row['Speaker'].strip()}: {row['Utterance'].strip()}")
    return records, bad


def convert(root: str | None, out: str, limit: int | None = None, seed: int = 0) -> dict:
    """Convert the three MELD splits; `limit` keeps a seeded random subset of at most N per split."""
    if root is None:
        raise ValueError("meld needs --root (the folder holding the MELD CSVs)")
    src = _find_root(root)
    manifest: dict = {"corpus": "meld", "recipe_version": VERSION, "splits": {}, "inputs": {}, "bad": []}
    for split, name in FILES.items():
        path = src / name
        records, bad = read_split(path, split)
        manifest["inputs"][name] = hashlib.sha256(path.read_bytes()).hexdigest()
        manifest["bad"].extend(bad)
        if limit and len(records) > limit:
            records = sorted(random.Random(seed).sample(records, limit), key=lambda r: r["id"])
        write_jsonl(Path(out) / f"{split}.jsonl", records)
        manifest["splits"][split] = {"n": len(records), **Counter(r["labels"]["emotion"] for r in records)}
    atomic_write_json(Path(out) / "manifest.json", manifest)
    return manifest
