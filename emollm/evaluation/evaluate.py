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
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from emollm.asr import transcriber_for
from emollm.config import MODALITIES
from emollm.data.dataset import sample_va
from emollm.data.prepass import feature_pass
from emollm.data.sample import Sample, load_samples
from emollm.encoders.cache import cached_encoders, flush_caches
from emollm.evaluation.label_maps import OTHER, map_split_into
from emollm.evaluation.metrics import bootstrap_ci, classification_metrics, regression_metrics, reliability
from emollm.evaluation.report.eval import write_eval_report
from emollm.generate import generate_answers, label_prefix, score_labels
from emollm.io import atomic_write_json, write_jsonl
from emollm.parse import parse_answer, parse_va
from emollm.rationale import complete_clauses, grounding

if TYPE_CHECKING:
    from emollm.model.emollm import EmoLLM

log = logging.getLogger("emollm.evaluation.evaluate")
MODES = ("generate", "score")


def _predict_batch(
    model: EmoLLM, batch: list[Sample], modes: tuple[str, ...], max_new_tokens: int
) -> list[dict]:
    rows = [
        {
            "id": s.id,
            "gold": s.emotion,
            "modalities": [m for m in MODALITIES if m in s.media] + (["text"] if s.text else []),
        }
        for s in batch
    ]
    answers: list[str] | None = None
    if "generate" in modes:
        began = time.time()
        answers = generate_answers(model, batch, max_new_tokens)
        _generated_rows(model, rows, batch, answers, (time.time() - began) / len(batch))
    if "score" in modes:
        began = time.time()
        if model.template.label_last and answers is None:
            answers = generate_answers(model, batch, max_new_tokens)
        prefixes = [label_prefix(model.template, a) for a in answers] if model.template.label_last else None
        probs = score_labels(model, batch, prefixes)
        per = (time.time() - began) / len(batch)
        for row, p in zip(rows, probs, strict=True):
            row["scores"] = {lab: round(float(v), 6) for lab, v in zip(model.labels, p, strict=True)}
            row["scored_label"] = model.labels[int(p.argmax())]
            row["score_seconds"] = round(per, 4)
    return rows


def _generated_rows(
    model: EmoLLM, rows: list[dict], batch: list[Sample], answers: list[str], per: float
) -> None:
    """Fill the generate-mode fields: parsed label, answer, latency, valence/arousal and rationale grounding."""
    for row, answer, sample in zip(rows, answers, batch, strict=True):
        parsed = parse_answer(answer, model.labels, model.label_set)
        row["predicted"], row["answer"] = parsed.label, answer
        row["generate_seconds"] = round(per, 4)
        if model.template.answer_va and sample_va(sample) is not None:
            row["gold_va"], row["predicted_va"] = sample_va(sample), parse_va(answer)
        if sample.meta.get("measured") is not None and parsed.rationale:
            text, cues = complete_clauses(parsed.rationale), sample.meta["measured"]
            row["rationale_claims"], row["rationale_problems"] = grounding(text, cues, sample.text)
            row["rationale_level_problems"] = grounding(text, cues, sample.text, "levels")[1]


def evaluate(
    model: EmoLLM,
    data: str | Path,
    out_dir: str | Path,
    batch_size: int = 8,
    modes: tuple[str, ...] = MODES,
    max_new_tokens: int = 64,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    label_map: str | Path | None = None,
    report: bool = True,
) -> dict[str, Any]:
    """Predict every valid sample of `data`, write OUT/predictions.jsonl, OUT/metrics.json and OUT/report.{md,html}
    with plots; return the metrics.

    Features come from the feature cache at `cache_dir` (default OUT/cache, filled on the way); samples whose media
    fail to decode are skipped and listed in OUT/bad_samples.json with the records that could not be read. A
    `label_map` (name or path, see `emollm.evaluation.label_maps`) first maps the gold labels of `data` into the model's
    label space; dropped samples are counted in metrics.json.
    """
    bad_modes = set(modes) - set(MODES)
    if bad_modes or not modes:
        raise ValueError(f"unknown evaluation mode {sorted(bad_modes)}; valid: {', '.join(MODES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data, gold_labels, mapping = _mapped_data(model, data, label_map, out)
    samples, bad = load_samples(data, gold_labels)
    samples = samples[:limit] if limit else samples
    samples, ignored = _model_modalities(samples, model)
    asr = transcriber_for(model.config.data.asr, cache_dir or out / "cache")
    if asr is not None:
        samples = asr.fill(samples)
    plain = model.encoders
    model.encoders = cached_encoders(plain, cache_dir or out / "cache")
    try:
        samples, bad_media = feature_pass(samples, model.encoders, model.projectors, {}, show=False)
        metrics = _predict_all(model, samples, out, batch_size, modes, max_new_tokens, gold_labels)
    finally:
        flush_caches(model.encoders)
        model.encoders = plain
    metrics.update(data=str(data), n_bad_records=len(bad), n_bad_media=len(bad_media), label_map=mapping)
    metrics["generated_data"] = any(s.corpus == "synthetic" for s in samples)
    metrics["ignored_modalities"] = ignored
    atomic_write_json(out / "metrics.json", metrics)
    if report:
        write_eval_report(out, metrics, gold_labels, model_info(model))
    if bad or bad_media:
        atomic_write_json(out / "bad_samples.json", [b.__dict__ for b in bad] + bad_media)
    return metrics


def _predict_all(
    model: EmoLLM,
    samples: list[Sample],
    out: Path,
    batch_size: int,
    modes: tuple[str, ...],
    max_new_tokens: int,
    gold_labels: tuple[str, ...],
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
    return summarize(rows, gold_labels, modes)


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
    if "score" in modes:
        conf = [max(r["scores"].values()) for r in rows]
        result["score"]["calibration"] = reliability(conf, [r["scored_label"] == r["gold"] for r in rows])
        result["score"]["ece"] = result["score"]["calibration"]["ece"]
    with_va = [r for r in rows if "gold_va" in r]
    if "generate" in modes and with_va:
        result["generate"]["valence_arousal"] = va_metrics(with_va)
    checked = [r for r in rows if "rationale_problems" in r]
    if "generate" in modes and checked:
        claims = sum(r["rationale_claims"] for r in checked) or 1
        result["generate"].update(
            rationale_checked=len(checked),
            rationale_grounded_rate=sum(not r["rationale_problems"] for r in checked) / len(checked),
            rationale_level_grounded_rate=sum(not r["rationale_level_problems"] for r in checked)
            / len(checked),
            rationale_claim_accuracy=1 - sum(len(r["rationale_problems"]) for r in checked) / claims,
            rationale_level_claim_accuracy=1
            - sum(len(r["rationale_level_problems"]) for r in checked) / claims,
        )
    return result


def _model_modalities(samples: list[Sample], model: EmoLLM) -> tuple[list[Sample], dict[str, int]]:
    """Samples restricted to the modalities the model has encoders for (e.g. an audio-only model tested on a
    tri-modal corpus), with a count of the inputs left out per modality; samples left with no input are dropped."""
    import dataclasses

    ignored: dict[str, int] = {}
    kept = []
    for s in samples:
        extra = [m for m in s.media if m not in model.encoders]
        for m in extra:
            ignored[m] = ignored.get(m, 0) + 1
        if extra:
            s = dataclasses.replace(s, media={m: r for m, r in s.media.items() if m in model.encoders})
        if s.media or s.text:
            kept.append(s)
    if ignored:
        log.warning("inputs without an encoder in this model are left out: %s", ignored)
    return kept, ignored


def va_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """CCC/MSE/... of parsed valence and arousal answers; an unreadable VA answer counts as unparsed (not scored)."""
    read = [r for r in rows if r["predicted_va"] is not None]
    out: dict[str, Any] = {"n": len(rows), "unparsed_rate": 1 - len(read) / len(rows)}
    if len(read) >= 2:
        for j, name in enumerate(("valence", "arousal")):
            out[name] = regression_metrics(
                [r["gold_va"][j] for r in read], [r["predicted_va"][j] for r in read]
            )
    return out


def _mapped_data(
    model: EmoLLM, data: str | Path, label_map: str | Path | None, out: Path
) -> tuple[Path, tuple[str, ...], dict[str, Any] | None]:
    """The split file to score (mapped into the model's label space when a label map is given), the gold label
    set, and a description of the mapping."""
    if label_map is None:
        return Path(data), model.labels, None

    mapped, lmap, mapping = map_split_into(data, label_map, model.label_set, out)
    return mapped, model.labels + ((OTHER,) if lmap.unmapped == "other" else ()), mapping


def model_info(model: EmoLLM) -> dict[str, Any]:
    """Provenance of a loaded checkpoint for reports."""
    cfg = model.config
    return {
        "checkpoint": getattr(model, "path", ""),
        "lm": cfg.lm.name_or_path,
        "modalities": ", ".join(f"{m}={mc.encoder}" for m, mc in cfg.modalities.items()) or "text only",
        "label_set": model.label_set,
        "prompt": f"{model.template.name} v{model.template.version}",
        "seed": cfg.train.seed,
    }
