"""Versioned label maps between corpora (`eval/label_maps/*.yaml`): load, validate against `emollm.labels`, and
apply to samples. A map sends a test corpus's gold labels into a model's label space; every source label is listed,
unmapped ones (null) are dropped and counted or kept as "other", and a mapping across canonical concepts must be
declared under `approximations` with a reason: nothing is merged silently."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emollm.data.sample import rebase_media
from emollm.io import iter_jsonl, write_jsonl
from emollm.labels import canonical_of, get_labels
from emollm.resources import named_yaml

OTHER = "other"


@dataclass
class LabelMap:
    """A validated source -> target label map."""

    name: str
    version: int
    source: str
    target: str
    mapping: dict[str, str | None]
    unmapped: str = "drop"
    approximations: dict[str, str] = field(default_factory=dict)
    path: str = ""

    def __call__(self, label: str) -> str | None:
        """The target label of a source label; None when it is dropped."""
        if label not in self.mapping:
            raise ValueError(f"label map {self.name}: {label!r} is not a {self.source} label")
        target = self.mapping[label]
        return target if target is not None else (OTHER if self.unmapped == "other" else None)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for reports."""
        return {"name": self.name, "version": self.version, "source": self.source, "target": self.target,
                "unmapped": self.unmapped, "map": self.mapping, "approximations": self.approximations}  # fmt: skip


def parse_label_map(data: dict[str, Any], where: str) -> LabelMap:
    """Validate a map mapping (every source label listed, targets valid, cross-concept pairs declared)."""
    for key in ("name", "version", "source", "target", "map"):
        if key not in data:
            raise ValueError(f"label map {where}: missing key {key!r}")
    source, target = get_labels(data["source"]), get_labels(data["target"])
    mapping = {str(k): (None if v is None else str(v)) for k, v in (data["map"] or {}).items()}
    if set(mapping) != set(source):
        missing, extra = sorted(set(source) - set(mapping)), sorted(set(mapping) - set(source))
        raise ValueError(
            f"label map {where}: must list every {data['source']} label (missing {missing}, unknown {extra})"
        )
    bad = sorted({v for v in mapping.values() if v is not None and v not in target})
    if bad:
        raise ValueError(f"label map {where}: targets {bad} are not {data['target']} labels")
    unmapped = data.get("unmapped", "drop")
    if unmapped not in ("drop", "other"):
        raise ValueError(f"label map {where}: unmapped must be drop or other, got {unmapped!r}")
    approximations = dict(data.get("approximations") or {})
    for src, tgt in mapping.items():
        crosses = tgt is not None and canonical_of(data["source"], src) != canonical_of(data["target"], tgt)
        if crosses and src not in approximations:
            raise ValueError(
                f"label map {where}: {src} -> {tgt} joins different concepts "
                f"({canonical_of(data['source'], src)} vs {canonical_of(data['target'], tgt)}); "
                "declare it under approximations with a reason"
            )
    return LabelMap(data["name"], int(data["version"]), data["source"], data["target"], mapping, unmapped,
                    approximations, where)  # fmt: skip


def load_label_map(name_or_path: str | Path) -> LabelMap:
    """Load a map by name (eval/label_maps/NAME.yaml) or path."""
    path = named_yaml(name_or_path, "label_maps", "label map")
    return parse_label_map(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, str(path))


def map_records(records: list[dict[str, Any]], lmap: LabelMap) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Records with gold emotions mapped into the target space (`meta.source_label` keeps the original), and the
    count of dropped records per source label."""
    kept, dropped = [], Counter()
    for record in records:
        label = record["labels"]["emotion"]
        if label not in lmap.mapping:
            raise ValueError(f"sample {record.get('id')}: label {label!r} is not a {lmap.source} label")
        target = lmap(label)
        if target is None:
            dropped[label] += 1
            continue
        meta = {**record.get("meta", {}), "source_label": label, "label_map": f"{lmap.name}@v{lmap.version}"}
        kept.append({**record, "labels": {**record["labels"], "emotion": target}, "meta": meta})
    return kept, dict(dropped)


def map_split_file(data: str | Path, lmap: LabelMap, out_path: str | Path) -> dict[str, Any]:
    """Write `data` with gold labels mapped into the map's target space to `out_path` (media paths rebased); bad
    JSON lines are left for the loader to report. Returns {kept, dropped: {source label: count}}."""
    data, out_path = Path(data), Path(out_path)
    records = [r for _, r, err in iter_jsonl(data) if err is None and isinstance(r.get("labels"), dict)]
    kept, dropped = map_records(records, lmap)
    write_jsonl(out_path, [rebase_media(r, data.parent, out_path.parent) for r in kept])
    return {"kept": len(kept), "dropped": dropped}


def map_split_into(
    data: str | Path, label_map: str | Path, label_set: str, out_dir: Path, allow_other: bool = True
) -> tuple[Path, LabelMap, dict[str, Any]]:
    """Load `label_map`, check it maps into `label_set` (a model's labels), and write `data` mapped to
    OUT_DIR/data.mapped.jsonl; return (that path, the map, a description with the drop counts for metrics.json)."""
    lmap = load_label_map(label_map)
    if lmap.target != label_set:
        raise ValueError(
            f"label map {lmap.name} maps into {lmap.target}, but the model predicts {label_set} labels"
        )
    if lmap.unmapped == "other" and not allow_other:
        raise ValueError(
            f"label map {lmap.name}: this model cannot score an 'other' class; use unmapped: drop"
        )
    mapped = Path(out_dir) / "data.mapped.jsonl"
    counts = map_split_file(data, lmap, mapped)
    return mapped, lmap, {**lmap.describe(), **counts, "source_data": str(data)}
