"""Sample: one JSONL record (an utterance or clip) with its text, media references and labels."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emollm.config import MODALITIES
from emollm.io import iter_jsonl

log = logging.getLogger(__name__)


@dataclass
class Sample:
    """One record of a split file. `media` maps modality -> path (relative to the JSONL file's folder)."""

    id: str
    labels: dict[str, Any]
    text: str | None = None
    media: dict[str, str] = field(default_factory=dict)
    corpus: str = ""
    split: str = ""
    speaker: str | None = None
    rationale: str | None = None
    messages: list[dict[str, str]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def emotion(self) -> str | None:
        """The discrete emotion label, if the sample has one."""
        return self.labels.get("emotion")

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict without empty optional fields."""
        return {k: v for k, v in asdict(self).items() if v not in (None, {}, [])}


@dataclass
class BadSample:
    """A record that could not be used: where it is and why."""

    file: str
    line: int
    sample_id: str | None
    reason: str


MAX_TEXT_CHARS = (
    20_000  # a transcript longer than this is a data error (a whole file pasted in), not an utterance
)


def inside(path: Path, roots: Sequence[Path]) -> bool:
    """Whether `path`, with symlinks and `..` resolved, lies under one of `roots`."""
    real = path.resolve()
    return any(real.is_relative_to(r.resolve()) for r in roots)


def sample_from_record(
    record: dict[str, Any],
    labels: tuple[str, ...],
    base: Path,
    where: str,
    roots: Sequence[Path] | None = None,
) -> Sample:
    """Validate one record and resolve its media paths against `base`; raise ValueError naming the problem. Media
    must lie under one of `roots` (default: `base`, the JSONL file's folder): `../` or absolute paths that leave it
    are refused unless a root that holds them is given explicitly."""
    known = {f for f in Sample.__dataclass_fields__}
    extra = set(record) - known
    if extra:
        raise ValueError(f"{where}: unknown fields {sorted(extra)}")
    if not isinstance(record.get("id"), str) or not record["id"]:
        raise ValueError(f"{where}: missing or empty 'id'")
    if not record["id"].isprintable():
        raise ValueError(f"{where}: 'id' {record['id']!r} has control characters or line breaks")
    sid = record["id"]
    rec_labels = record.get("labels")
    if not isinstance(rec_labels, dict) or "emotion" not in rec_labels:
        raise ValueError(f"{where}: sample {sid}: 'labels' must be an object with an 'emotion' key")
    if rec_labels["emotion"] not in labels:
        raise ValueError(
            f"{where}: sample {sid}: unknown label {rec_labels['emotion']!r}; valid: {', '.join(labels)}"
        )
    media = record.get("media") or {}
    if not isinstance(media, dict):
        raise ValueError(f"{where}: sample {sid}: 'media' must be an object")
    resolved = {}
    for modality, ref in media.items():
        if ref is None:
            continue
        if modality not in MODALITIES:
            raise ValueError(
                f"{where}: sample {sid}: unknown modality {modality!r}; valid: {', '.join(MODALITIES)}"
            )
        path_part, hash_, key = str(ref).partition("#")
        path = Path(path_part) if Path(path_part).is_absolute() else base / path_part
        if not inside(path, roots or [base]):
            raise ValueError(
                f"{where}: sample {sid}: {modality} path {ref!r} leaves the corpus root "
                f"{', '.join(str(r) for r in roots or [base])} (give --media-root / data.media_root to allow it)"
            )
        if not path.is_file():
            raise ValueError(f"{where}: sample {sid}: {modality} file not found: {path}")
        resolved[modality] = str(path) + hash_ + key
    text = record.get("text")
    if text is not None and not isinstance(text, str):
        raise ValueError(f"{where}: sample {sid}: 'text' must be a string, got {type(text).__name__}")
    if text and len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"{where}: sample {sid}: text of {len(text):,} characters > {MAX_TEXT_CHARS:,}")
    if not resolved and not text:
        raise ValueError(f"{where}: sample {sid}: has neither media nor text")
    fields = {k: v for k, v in record.items() if k not in ("media",)}
    return Sample(**fields, media=resolved)


def split_roots(path: str | Path) -> list[Path]:
    """Where a split file's media may lie: its own folder, and the raw corpus folder a recipe recorded as
    `media_root` (relative to the output folder) in the manifest.json beside it. A manifest is configuration:
    check the media_root of one you did not write yourself."""
    folder = Path(path).parent
    roots = [folder]
    manifest = folder / "manifest.json"
    if manifest.is_file():
        try:
            declared = json.loads(manifest.read_text(encoding="utf-8")).get("media_root")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            declared = None
        if isinstance(declared, str) and declared:
            roots.append(folder / declared)
    return roots


def load_samples(
    path: str | Path, labels: tuple[str, ...], media_roots: Sequence[str | Path] = ()
) -> tuple[list[Sample], list[BadSample]]:
    """Read a split file: the valid samples, and a report of every bad record (nothing valid is lost). Media may
    lie under the file's folder, its recipe's recorded media_root (`split_roots`) or one of `media_roots`."""
    path = Path(path)
    roots = [*split_roots(path), *(Path(r) for r in media_roots if r)]
    good: list[Sample] = []
    bad: list[BadSample] = []
    seen: set[str] = set()
    for lineno, record, error in iter_jsonl(path):
        where = f"{path}:{lineno}"
        sid = record.get("id") if isinstance(record, dict) else None
        if error is None:
            try:
                sample = sample_from_record(record, labels, path.parent, where, roots)
                if sample.id in seen:
                    raise ValueError(f"{where}: duplicate sample id {sample.id}")
                seen.add(sample.id)
                good.append(sample)
                continue
            except (ValueError, TypeError) as exc:
                error = str(exc)
        bad.append(BadSample(str(path), lineno, sid, error))
        log.warning("skipping %s", error)
    return good, bad


def rebase_media(record: dict[str, Any], src_dir: Path, dst_dir: Path) -> dict[str, Any]:
    """The record with relative media paths rewritten so they resolve from `dst_dir` as they did from `src_dir`."""
    import os

    media = {}
    for m, ref in (record.get("media") or {}).items():
        path, sep, key = str(ref).partition("#")
        media[m] = path if Path(path).is_absolute() else os.path.relpath(src_dir / path, dst_dir)
        media[m] += sep + key
    return {**record, "media": media} if media else record


__all__ = ["BadSample", "Sample", "load_samples", "rebase_media", "sample_from_record", "split_roots"]
