"""Evaluate a checkpoint on a split file: predictions.jsonl + metrics.json, in both prediction modes.

- `generate`: free generation, parsed by `emollm.parse`; an unreadable answer is null, counted unparsed and wrong.
- `score`: label scoring (softmax over each verbalised label's log-likelihood); never unparsed.
A killed evaluation resumes: finished predictions are kept in predictions.partial.jsonl and skipped on the rerun.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from emollm.asr import transcriber_for
from emollm.config import MODALITIES
from emollm.cues import cues_of_inputs, measure_samples
from emollm.data.dataset import sample_va
from emollm.data.prepass import feature_pass
from emollm.data.sample import Sample, load_samples, split_roots
from emollm.encoders.cache import cached_encoders, flush_caches
from emollm.evaluation.label_maps import OTHER, map_split_into
from emollm.evaluation.report.eval import write_eval_report
from emollm.evaluation.summary import dropped_accounting, summarize
from emollm.generate import generate_answers, label_prefix, score_labels
from emollm.io import atomic_write_json, atomic_write_text, sha256_file, write_jsonl
from emollm.parse import parse_answer, parse_va
from emollm.prior_adjustment import applied, as_dict
from emollm.rationale import absent_citations, complete_clauses, grounding

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
        raw = score_labels(model, batch, prefixes, adjust=False)
        adjustment = model.prior_adjustment
        probs = applied(raw, adjustment)
        per = (time.time() - began) / len(batch)
        for row, p, r in zip(rows, probs, raw, strict=True):
            row.update(_scored(model.labels, p))
            row["score_seconds"] = round(per, 4)
            if adjustment is not None:  # the model's own scores too, before its label-prior adjustment
                row["unadjusted"] = _scored(model.labels, r)
    return rows


def _scored(labels: Sequence[str], probs: Any) -> dict[str, Any]:
    """`scores` (label -> probability) and `scored_label` (the argmax) of one sample's probabilities `[K]`."""
    return {
        "scores": {lab: round(float(v), 6) for lab, v in zip(labels, probs, strict=True)},
        "scored_label": labels[int(probs.argmax())],
    }


def _generated_rows(
    model: EmoLLM, rows: list[dict], batch: list[Sample], answers: list[str], per: float
) -> None:
    """Fill the generate-mode fields: parsed label, answer, latency, valence/arousal and rationale grounding."""
    for row, answer, sample in zip(rows, answers, batch, strict=True):
        parsed = parse_answer(answer, model.labels, model.label_set)
        row["predicted"], row["answer"], row["parsed_via"] = parsed.label, answer, parsed.via
        given = set(sample.media) | ({"text"} if sample.text else set())
        row["rationale_absent"] = absent_citations(parsed.rationale or answer, given)
        row["generate_seconds"] = round(per, 4)
        if model.template.answer_va and sample_va(sample) is not None:
            row["gold_va"], row["predicted_va"] = sample_va(sample), parse_va(answer)
        if sample.meta.get("measured") is not None and parsed.rationale:
            # the cues of the inputs this sample has now (a robustness copy without an input keeps the clean cues)
            cues = cues_of_inputs(
                sample.meta["measured"], set(sample.media), tuple(model.tokens), bool(sample.text)
            )
            text = complete_clauses(parsed.rationale)
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
    media_roots: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Predict every valid sample of `data`, write OUT/predictions.jsonl, OUT/metrics.json and OUT/report.{md,html}
    with plots; return the metrics.

    Features come from the feature cache at `cache_dir` (default OUT/cache, filled on the way). Samples that cannot
    be scored (bad records, bad media, an encoder failing on an input, no input the model reads) are listed in
    OUT/bad_samples.json, counted per reason in `n_dropped`, and counted wrong in each mode's `all_samples`. A
    `label_map` (name or path, see `emollm.evaluation.label_maps`) first maps the gold labels of `data` into the model's
    label space; dropped samples are counted in metrics.json. Media may lie under the split's folder or one of
    `media_roots`.
    """
    bad_modes = set(modes) - set(MODES)
    if bad_modes or not modes:
        raise ValueError(f"unknown evaluation mode {sorted(bad_modes)}; valid: {', '.join(MODES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    roots = [*media_roots, *(split_roots(data) if label_map is not None else [])]  # mapped copy -> source
    data, gold_labels, mapping = _mapped_data(model, data, label_map, out)
    samples, bad = load_samples(data, gold_labels, roots)
    samples = samples[:limit] if limit else samples
    samples, ignored, no_input = _model_modalities(samples, model)
    asr = transcriber_for(model.config.data.asr, cache_dir or out / "cache")
    if asr is not None:
        samples = asr.fill(samples)
    gold_of = {s.id: s.emotion for s in samples}
    plain = model.encoders
    model.encoders = cached_encoders(plain, cache_dir or out / "cache")
    try:
        samples, bad_media = feature_pass(samples, model.encoders, model.projectors, {}, show=False)
        measure_missing_cues(model, samples)
        key = run_key(model, data, modes, max_new_tokens, limit)
        metrics = _predict_all(model, samples, out, batch_size, modes, max_new_tokens, gold_labels, key)
    finally:
        flush_caches(model.encoders)
        model.encoders = plain
    dropped = [{**b, "gold": gold_of.get(b["sample"])} for b in bad_media] + no_input
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    accounting = dropped_accounting(rows, dropped, len(bad), gold_labels, modes)
    metrics["n_dropped"] = accounting.pop("n_dropped")
    for mode, all_samples in accounting.items():
        metrics[mode]["all_samples"] = all_samples
    metrics.update(data=str(data), n_bad_records=len(bad), n_bad_media=len(bad_media), label_map=mapping)
    metrics["generated_data"] = any(s.corpus == "synthetic" for s in samples)
    metrics["ignored_modalities"] = ignored
    metrics["prior_adjustment"] = as_dict(model.prior_adjustment)
    metrics["precision"] = model.inference_precision
    atomic_write_json(out / "metrics.json", metrics)
    if report:
        write_eval_report(out, metrics, gold_labels, model_info(model))
    if bad or dropped:
        atomic_write_json(
            out / "bad_samples.json", [b.__dict__ | {"kind": "bad_record"} for b in bad] + dropped
        )
    return metrics


def measure_missing_cues(model: EmoLLM, samples: list[Sample]) -> None:
    """For a template that gives the model its measured cues: measure them (cache hits after the feature pass) on
    the samples that have none in `meta.measured` (e.g. perturbed copies), so the prompt states what is there."""
    todo = [s for s in samples if model.template.measured and s.meta.get("measured") is None]
    if todo:
        for sample, cues in zip(todo, measure_samples(todo, model.encoders)[0], strict=True):
            sample.meta["measured"] = cues


def run_key(model: EmoLLM, data: Path, modes: tuple[str, ...], max_new_tokens: int, limit: int | None) -> str:
    """What a finished prediction depends on: the model's weights, prompt and config, the data file's bytes and
    the evaluation settings (inference precision included). Partial predictions are reused only under the same key."""
    h = hashlib.sha256(model.fingerprint().encode())
    h.update(sha256_file(data).encode())
    settings = [
        list(modes),
        max_new_tokens,
        limit,
        as_dict(model.prior_adjustment),
        model.inference_precision,
    ]
    h.update(json.dumps(settings).encode())
    return h.hexdigest()[:32]


def _read_partial(partial: Path, key: str) -> dict[str, dict]:
    """Finished rows of an interrupted run with the same key; a partial file of another model or data is set
    aside, and a last line cut short by the kill is dropped (that sample is predicted again)."""
    if not partial.exists():
        return {}
    lines = partial.read_text().splitlines()
    if not lines or lines[0] != json.dumps({"key": key}):
        stale = partial.with_suffix(".stale.jsonl")
        partial.replace(stale)
        log.warning("%s came from another checkpoint, data file or settings; moved to %s", partial, stale)
        return {}
    done = {}
    for n, line in enumerate(lines[1:], 2):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            log.warning(
                "%s:%d: unreadable (cut short by a kill?); that sample is predicted again", partial, n
            )
            continue
        done[row["id"]] = row
    return done


def _predict_all(
    model: EmoLLM,
    samples: list[Sample],
    out: Path,
    batch_size: int,
    modes: tuple[str, ...],
    max_new_tokens: int,
    gold_labels: tuple[str, ...],
    key: str,
) -> dict[str, Any]:
    """Predictions for every sample (resuming from predictions.partial.jsonl of the same key); writes
    predictions.jsonl."""
    partial = out / "predictions.partial.jsonl"
    done = _read_partial(partial, key)
    todo = [s for s in samples if s.id not in done]
    if done:
        log.info("resuming evaluation: %d of %d samples already predicted", len(done), len(samples))
    rows_written = [json.dumps({"key": key})] + [json.dumps(r) for r in done.values()]
    atomic_write_text(partial, "".join(line + "\n" for line in rows_written))  # rewritten whole: no torn line
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


def _model_modalities(
    samples: list[Sample], model: EmoLLM
) -> tuple[list[Sample], dict[str, int], list[dict[str, Any]]]:
    """Samples restricted to the modalities the model has encoders for (e.g. an audio-only model tested on a
    tri-modal corpus), a count of the inputs left out per modality, and the samples left with no input."""
    ignored: dict[str, int] = {}
    kept, empty = [], []
    for s in samples:
        extra = [m for m in s.media if m not in model.encoders]
        for m in extra:
            ignored[m] = ignored.get(m, 0) + 1
        if extra:
            s = dataclasses.replace(s, media={m: r for m, r in s.media.items() if m in model.encoders})
        if s.media or s.text:
            kept.append(s)
        else:
            empty.append({"sample": s.id, "kind": "no_input", "gold": s.emotion,
                          "reason": "no input this model reads (its modalities are absent and it has no text)"})  # fmt: skip
    if ignored:
        log.warning("inputs without an encoder in this model are left out: %s", ignored)
    return kept, ignored, empty


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
