"""Evaluate a checkpoint on a split file: predictions.jsonl + metrics.json, in both prediction modes.

- `generate`: free generation, parsed by `emollm.parse`; an unreadable answer is null, counted unparsed and wrong.
- `score`: label scoring (softmax over each verbalised label's log-likelihood); never unparsed.
A killed evaluation resumes: finished predictions are kept in predictions.partial.jsonl and skipped on the rerun.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from emollm.asr import transcriber_for
from emollm.config import MODALITIES
from emollm.data.prepass import feature_pass
from emollm.data.sample import Sample, load_samples
from emollm.encoders.cache import cached_encoders, flush_caches
from emollm.generate import generate_answers, score_labels
from emollm.io import atomic_write_json, write_jsonl
from emollm.metrics import bootstrap_ci, classification_metrics
from emollm.parse import parse_answer

log = logging.getLogger("emollm.evaluate")
MODES = ("generate", "score")


def _predict_batch(
    model: Any, batch: list[Sample], modes: tuple[str, ...], max_new_tokens: int
) -> list[dict]:
    rows = [
        {
            "id": s.id,
            "gold": s.emotion,
            "modalities": [m for m in MODALITIES if m in s.media] + (["text"] if s.text else []),
        }
        for s in batch
    ]
    if "score" in modes:
        began = time.time()
        probs = score_labels(model, batch)
        per = (time.time() - began) / len(batch)
        for row, p in zip(rows, probs, strict=True):
            row["scores"] = {lab: round(float(v), 6) for lab, v in zip(model.labels, p, strict=True)}
            row["scored_label"] = model.labels[int(p.argmax())]
            row["score_seconds"] = round(per, 4)
    if "generate" in modes:
        began = time.time()
        answers = generate_answers(model, batch, max_new_tokens)
        per = (time.time() - began) / len(batch)
        for row, answer in zip(rows, answers, strict=True):
            row["predicted"] = parse_answer(answer, model.labels, model.label_set).label
            row["answer"] = answer
            row["generate_seconds"] = round(per, 4)
    return rows


def evaluate(
    model: Any,
    data: str | Path,
    out_dir: str | Path,
    batch_size: int = 8,
    modes: tuple[str, ...] = MODES,
    max_new_tokens: int = 64,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Predict every valid sample of `data`, write OUT/predictions.jsonl and OUT/metrics.json; return the metrics.

    Features come from the feature cache at `cache_dir` (default OUT/cache, filled on the way); samples whose media
    fail to decode are skipped and listed in OUT/bad_samples.json with the records that could not be read.
    """
    bad_modes = set(modes) - set(MODES)
    if bad_modes or not modes:
        raise ValueError(f"unknown evaluation mode {sorted(bad_modes)}; valid: {', '.join(MODES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples, bad = load_samples(data, model.labels)
    samples = samples[:limit] if limit else samples
    asr = transcriber_for(model.config.data.asr, cache_dir or out / "cache")
    if asr is not None:
        samples = asr.fill(samples)
    plain = model.encoders
    model.encoders = cached_encoders(plain, cache_dir or out / "cache")
    try:
        samples, bad_media = feature_pass(samples, model.encoders, model.projectors, {}, show=False)
        metrics = _predict_all(model, samples, out, batch_size, modes, max_new_tokens)
    finally:
        flush_caches(model.encoders)
        model.encoders = plain
    metrics.update(data=str(data), n_bad_records=len(bad), n_bad_media=len(bad_media))
    atomic_write_json(out / "metrics.json", metrics)
    if bad or bad_media:
        atomic_write_json(out / "bad_samples.json", [b.__dict__ for b in bad] + bad_media)
    return metrics


def _predict_all(
    model: Any, samples: list[Sample], out: Path, batch_size: int, modes: tuple[str, ...], max_new_tokens: int
) -> dict[str, Any]:
    """Predictions for every sample (resuming from predictions.partial.jsonl); writes predictions.jsonl."""
    partial = out / "predictions.partial.jsonl"
    done = {r["id"]: r for r in map(json.loads, partial.read_text().splitlines())} if partial.exists() else {}
    todo = [s for s in samples if s.id not in done]
    if done:
        log.info("resuming evaluation: %d of %d samples already predicted", len(done), len(samples))
    with (
        partial.open("a") as fh,
        tqdm(total=len(samples), initial=len(samples) - len(todo), desc="eval") as bar,
    ):
        for i in range(0, len(todo), batch_size):
            batch = todo[i : i + batch_size]
            for row in _predict_batch(model, batch, modes, max_new_tokens):
                done[row["id"]] = row
                fh.write(json.dumps(row) + "\n")
            fh.flush()
            bar.update(len(batch))
    rows = [done[s.id] for s in samples]
    write_jsonl(out / "predictions.jsonl", rows)
    partial.unlink(missing_ok=True)
    return summarize(rows, model.labels, modes)


def summarize(rows: list[dict[str, Any]], labels: tuple[str, ...], modes: tuple[str, ...]) -> dict[str, Any]:
    """Metrics per mode from prediction rows, with mean latency per sample."""
    gold = [r["gold"] for r in rows]
    result: dict[str, Any] = {}
    for mode, key, seconds in (
        ("generate", "predicted", "generate_seconds"),
        ("score", "scored_label", "score_seconds"),
    ):
        if mode in modes:
            pred = [r[key] for r in rows]
            result[mode] = classification_metrics(gold, pred, labels)
            result[mode]["ci95"] = bootstrap_ci(gold, pred, labels)
            result[mode]["seconds_per_sample"] = sum(r[seconds] for r in rows) / len(rows)
    return result


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The summary keys of one mode's metrics (accuracy, uar, macro_f1, weighted_f1, unparsed_rate, n)."""
    keys = ("accuracy", "uar", "macro_f1", "weighted_f1", "unparsed_rate", "n")
    return {k: metrics[k] for k in keys}


def format_table(named: dict[str, dict[str, Any]]) -> str:
    """A plain-text table of headline metrics, one row per named result."""
    cols = ("accuracy", "uar", "macro_f1", "weighted_f1", "unparsed_rate", "n")
    width = max(len(n) for n in named) + 2
    lines = ["".ljust(width) + "".join(c.rjust(14) for c in cols)]
    for name, m in named.items():
        cells = [f"{m[c]:.4f}" if isinstance(m[c], float) else str(m[c]) for c in cols]
        lines.append(name.ljust(width) + "".join(c.rjust(14) for c in cells))
    return "\n".join(lines)
