"""Operations on a converted corpus's split files (`DIR/{train,dev,test}.jsonl`)."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

from emollm.io import write_jsonl


def subsample_splits(data_dir: Path, sizes: dict[str, int], seed: int) -> None:
    """Keep a seeded, label-stratified subset of each named split, in place (so a run fits in minutes)."""
    for split, n in sizes.items():
        rows = [json.loads(line) for line in (data_dir / f"{split}.jsonl").read_text().splitlines()]
        by_label: dict[str, list] = defaultdict(list)
        for row in rows:
            by_label[row["labels"]["emotion"]].append(row)
        rng = random.Random(seed)
        keep = []
        for label in sorted(by_label):
            group = by_label[label]
            rng.shuffle(group)
            keep.extend(group[: max(1, round(n * len(group) / len(rows)))])
        write_jsonl(data_dir / f"{split}.jsonl", sorted(keep, key=lambda r: r["id"]))
