"""What every recipe shares: the bad-row report, media references, split assignment, derived sensor files, and the
manifest (counts per split and label, input checksums, recipe version)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emollm.data.media import save_sensor_npy
from emollm.faults import kill_point
from emollm.io import atomic_write_json, sha256_file, write_jsonl
from emollm.labels import VA_FORMULA, circumplex_quadrant, get_labels, normalise_va
from emollm.prompts import PLACEHOLDERS, load_template


def csv_rows(path: Path, conv: Conversion | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file with a header. A row holding bytes that are not UTF-8, or with more or fewer
    fields than the header, is reported to `conv` (file, line, reason) and skipped; the other rows are kept. Line
    numbers are those of the row's first line in the file."""
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []  # reads the header line
        line = reader.line_num + 1
        for row in reader:
            where, line = line, reader.line_num + 1
            problem = None
            if None in row or None in row.values():
                fields = sum(k is not None and v is not None for k, v in row.items()) + len(
                    row.get(None) or []
                )
                problem = f"{fields} fields, header has {len(header)}"
            elif any(_undecodable(v) for v in (*row.keys(), *row.values())):
                problem = "not valid UTF-8"
            if problem:
                if conv is not None:
                    conv.report(path, where, problem)
                continue
            yield where, row


def _undecodable(text: str) -> bool:
    """Whether a string read with errors="surrogateescape" held bytes that are not UTF-8."""
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def find_root(root: str | Path | None, corpus: str, marker: str, subdirs: Iterable[str] = ()) -> Path:
    """The folder under `root` (or one of `subdirs`) holding `marker`; a clear error when there is none."""
    if root is None:
        raise ValueError(f"{corpus} needs --root (the corpus folder holding {marker})")
    base = Path(root)
    for candidate in (base, *(base / s for s in subdirs)):
        if (candidate / marker).exists():
            return candidate
    raise FileNotFoundError(f"{corpus}: {marker} not found under {base}")


@dataclass
class Conversion:
    """One recipe run: collects records and bad rows, then writes the splits and the manifest atomically."""

    corpus: str
    label_set: str
    version: int
    root: Path
    out: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    bad: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    _ids: set[str] = field(default_factory=set)

    def report(self, file: Path | str, line: int | None, reason: str) -> None:
        """Record a bad row: where it is and why it was left out."""
        self.bad.append({"file": str(file), "line": line, "reason": reason})

    def checksum(self, *paths: Path) -> None:
        """Record the SHA-256 of metadata/label files (keyed by their path relative to the root)."""
        for p in paths:
            self.inputs[str(p.relative_to(self.root))] = sha256_file(p)

    def media(self, path: Path, file: Path | str, line: int | None) -> str | None:
        """A media reference relative to the output folder, or None (and a report) when the file is missing."""
        if not path.is_file():
            self.report(file, line, f"media file not found: {path}")
            return None
        if path.stat().st_size == 0:
            self.report(file, line, f"media file is empty: {path}")
            return None
        return os.path.relpath(path, self.out)

    def audio_with_video(self, wav: Path, video: Path) -> dict[str, str] | None:
        """Media of a clip with a wav and, when the file exists, its video; None (reported) when the wav is bad."""
        audio = self.media(wav, wav, None)
        if audio is None:
            return None
        return {"audio": audio, **({"video": self.media(video, video, None)} if video.is_file() else {})}

    def label(self, value: str, file: Path | str, line: int | None) -> str | None:
        """`value` if it is in the recipe's label set, else None and a report."""
        if value not in get_labels(self.label_set):
            self.report(file, line, f"unknown label {value!r}")
            return None
        return value

    def add(self, record: dict[str, Any], file: Path | str, line: int | None) -> bool:
        """Keep a record unless its id was seen before (then report it)."""
        if record["id"] in self._ids:
            self.report(file, line, f"duplicate id {record['id']}")
            return False
        self._ids.add(record["id"])
        record.setdefault("corpus", self.corpus)
        self.records.append({k: v for k, v in record.items() if v not in (None, {}, [])})
        return True

    def render_messages(self, template_name: str) -> None:
        """Store each record's chat `messages` rendered with a prompt template (modality placeholders such as
        <|audio|> stay unexpanded; training expands them and uses these messages instead of the template)."""
        template, labels = load_template(template_name), get_labels(self.label_set)
        for r in self.records:
            placeholders = {m: PLACEHOLDERS[m] for m in r.get("media", {})}
            lab = r["labels"]
            va = (lab["valence"], lab["arousal"]) if "valence" in lab and "arousal" in lab else None
            answer = template.format_answer(lab["emotion"], r.get("rationale"), va)
            r["messages"] = template.messages(
                labels, placeholders, r.get("text"), 0, answer, r.get("meta", {}).get("context")
            )
        self.notes["messages"] = f"{template.name} v{template.version}"

    def write(self, limit: int | None = None, seed: int = 0, write_all: bool = False) -> dict[str, Any]:
        """Write one JSONL per split (`limit`: a seeded subset of at most N per split), `all.jsonl` too when
        asked (for leave-one-group-out folds), and manifest.json."""
        if _MESSAGES.get():
            self.render_messages(_MESSAGES.get())
        by_split: dict[str, list[dict]] = {}
        for r in self.records:
            by_split.setdefault(r["split"], []).append(r)
        if write_all:
            by_split["all"] = list(self.records)
        manifest: dict[str, Any] = {
            "corpus": self.corpus,
            "label_set": self.label_set,
            "recipe_version": self.version,
            "splits": {},
            "labels": {},
            "inputs": self.inputs,
            "bad": self.bad,
            "va_normalisation": VA_FORMULA,
            # where the records' media lie (the raw corpus, relative to this folder): loaders allow paths under it
            "media_root": os.path.relpath(self.root.resolve(), self.out.resolve()),
            **self.notes,
        }
        for split, records in sorted(by_split.items()):
            if limit and len(records) > limit:
                records = sorted(random.Random(seed).sample(records, limit), key=lambda r: r["id"])
            write_jsonl(self.out / f"{split}.jsonl", records)
            kill_point("recipe.split")
            manifest["splits"][split] = len(records)
            manifest["labels"][split] = dict(Counter(r["labels"]["emotion"] for r in records).most_common())
            speakers = {r["speaker"] for r in records if r.get("speaker")}
            manifest.setdefault("speakers", {})[split] = len(speakers)
        atomic_write_json(self.out / "manifest.json", manifest)
        return manifest


_MESSAGES: ContextVar[str | None] = ContextVar("messages_template", default=None)


@contextlib.contextmanager
def render_messages(template: str | None) -> Iterator[None]:
    """While active, every Conversion stores chat messages rendered with `template` in its records."""
    token = _MESSAGES.set(template)
    try:
        yield
    finally:
        _MESSAGES.reset(token)


def assign_split(group: str, test: Iterable[str], dev: Iterable[str]) -> str:
    """The split of a speaker/session/subject group: test, dev, else train."""
    return "test" if group in set(test) else "dev" if group in set(dev) else "train"


def hash_split(key: str, dev: float = 0.1, test: float = 0.1) -> str:
    """A stable split from a key's hash (for corpora with neither official splits nor speakers)."""
    u = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if u < test else "dev" if u < test + dev else "train"


def write_sensor(conv: Conversion, sid: str, signals: dict[str, np.ndarray], rate: float) -> str:
    """Write a derived sensor recording (`sensor/SID.npy` + `.json`, channels named by type, float32) under the
    output folder; return its reference."""
    save_sensor_npy(conv.out / "sensor" / f"{sid}.npy", signals, rate, np.float32)
    return f"sensor/{sid}.npy"


def finite_or_report(conv: Conversion, values: np.ndarray, file: Path | str, what: str) -> bool:
    """True when `values` has no NaN/inf; otherwise report the file and what held them."""
    if np.isfinite(values).all():
        return True
    conv.report(file, None, f"{what}: {int((~np.isfinite(values)).sum())} NaN/inf values")
    return False


RecipeFn = Callable[..., dict[str, Any]]


def rating_labels(
    corpus: str, valence: float, arousal: float, dominance: float, high_above: float
) -> dict[str, Any]:
    """Self-assessment ratings as labels: the circumplex quadrant (a rating above `high_above` is high) and the
    valence/arousal/dominance normalised to [-1, 1] with the corpus's scale."""
    return {
        "emotion": circumplex_quadrant(valence, arousal, high_above),
        **{
            k: normalise_va(corpus, x)
            for k, x in (("valence", valence), ("arousal", arousal), ("dominance", dominance))
        },
    }
