"""The steps `emollm results` tasks share: convert a corpus, train or reuse a run, pick its checkpoint on dev, fit
its label-prior adjustment, evaluate once, and summarise. Each step reuses what a previous run finished."""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from emollm.checkpoint import load_checkpoint, step_checkpoints
from emollm.config import load_config
from emollm.data.recipes import recipe
from emollm.evaluation.evaluate import evaluate
from emollm.evaluation.metrics import headline
from emollm.evaluation.prior_fit import fit_from_predictions
from emollm.io import atomic_write_json, write_jsonl
from emollm.labels import get_labels
from emollm.model.emollm import EmoLLM
from emollm.model.lm import DTYPES
from emollm.precision import resolve_inference_precision
from emollm.prior_adjustment import (
    PriorAdjustment,
    as_dict,
    label_prior,
    read_prior_adjustment,
    save_prior_adjustment,
)
from emollm.resources import resource_dir
from emollm.train import train

log = logging.getLogger("emollm.experiments.results")


def corpus(name: str, root: str, out: Path) -> Path:
    """A corpus converted with its recipe into OUT/data/NAME (once)."""
    folder = out / "data" / name
    if not (folder / "manifest.json").is_file():
        recipe(name)(root=root, out=str(folder), seed=0)
    return folder


def brief(m: dict[str, Any]) -> dict[str, Any]:
    """Headline metrics of one mode with their 95% CIs and latency."""
    extra = {k: m[k] for k in ("ci95", "seconds_per_sample", "all_samples") if k in m}
    return {**headline(m), **extra}


def evaluated(
    model: EmoLLM | str | Path,
    data: Path,
    out: Path,
    modes: tuple[str, ...],
    any_adjustment: bool = False,
    **kw: Any,
) -> dict[str, Any]:
    """metrics.json of an evaluation, run only when it has not finished before with the model's current label-prior
    adjustment (`any_adjustment`: with any, for callers that read only the unadjusted scores); `model`: a folder or
    an EmoLLM."""
    done = out / "metrics.json"
    if done.is_file():
        finished = json.loads(done.read_text())
        same = any_adjustment or finished.get("prior_adjustment") == _adjustment_of(model)
        same_precision = finished.get("precision", "no") == _precision_of(model)
        fresh = not isinstance(model, (str, Path)) or _newer_than_weights(done, Path(model))
        if all(m in finished for m in modes) and same and same_precision and fresh:
            return finished
    model = load_checkpoint(model, merge=True, precision="auto") if isinstance(model, (str, Path)) else model
    return evaluate(model, data, out, batch_size=16, modes=modes, **kw)


WEIGHT_FILES = ("projectors.safetensors", "adapter/adapter_model.safetensors", "config.yaml", "prompt.yaml")


def _newer_than_weights(done: Path, ckpt: Path) -> bool:
    """Whether a finished evaluation was written after the checkpoint's weights, config and prompt (a retrained run
    in the same folder is evaluated again)."""
    written = [(ckpt / f).stat().st_mtime for f in WEIGHT_FILES if (ckpt / f).is_file()]
    return done.stat().st_mtime >= max(written, default=0.0)


def _precision_of(model: EmoLLM | str | Path) -> str:
    """The inference precision a model runs in (a checkpoint folder: what `precision="auto"` gives it here)."""
    if isinstance(model, EmoLLM):
        return model.inference_precision
    lm = load_config(Path(model) / "config.yaml").lm
    return resolve_inference_precision("auto", DTYPES[lm.dtype], lm.quantization != "none")


def _adjustment_of(model: EmoLLM | str | Path) -> dict[str, Any] | None:
    """The label-prior adjustment a model (or checkpoint folder) applies, as evaluate records it in metrics.json."""
    return as_dict(read_prior_adjustment(model) if isinstance(model, (str, Path)) else model.prior_adjustment)


def stratified(data: Path, n: int, out: Path, seed: int = 0) -> Path:
    """A seeded, label-stratified subset of n records of a split (for model selection and the untuned floor)."""
    if out.is_file():
        return out
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    by: dict[str, list] = defaultdict(list)
    for r in rows:
        by[r["labels"]["emotion"]].append(r)
    rng, keep = random.Random(seed), []
    for label in sorted(by):
        rng.shuffle(by[label])
        keep += by[label][: max(1, round(n * len(by[label]) / len(rows)))]
    write_jsonl(out, sorted(keep, key=lambda r: r["id"]))
    manifest = json.loads((data.parent / "manifest.json").read_text())
    if manifest.get("media_root"):  # the subset's media still lie in the source's raw corpus folder
        manifest["media_root"] = os.path.relpath(
            (data.parent / manifest["media_root"]).resolve(), out.parent.resolve()
        )
    atomic_write_json(out.parent / "manifest.json", manifest)
    return out


def select_checkpoint(run_dir: Path, dev: Path, out: Path) -> tuple[Path, dict[str, float]]:
    """The step checkpoint or final/ with the best dev weighted-F1 (label scoring), and every candidate's score."""
    candidates = [*(folder for _, folder in step_checkpoints(run_dir)), run_dir / "final"]
    scores = {}
    for folder in candidates:
        m = evaluated(folder, dev, out / folder.name, ("score",), any_adjustment=True, report=False)
        scores[folder.name] = m.get("score_unadjusted", m["score"])["weighted_f1"]
    best = max(candidates, key=lambda f: (scores[f.name], f.name == "final"))
    atomic_write_json(out / "selection.json", {"scores": scores, "selected": best.name})
    return best, scores


def trained(config: str, overrides: list[str]) -> tuple[Path, float]:
    """The final checkpoint of a training run (resumed or reused) and the run's training seconds."""
    cfg = load_config(resource_dir("configs") / config, overrides)
    final = train(cfg, resume="auto")
    meta = json.loads((final / "meta.json").read_text())
    return final, float(meta.get("train_seconds", 0.0))


def wall_seconds(task: Path, began: float) -> float:
    """The task's wall time summed over every invocation that worked on it (TASK/wall_seconds.json), so a resumed or
    re-run task reports what it cost in all, not the seconds of its last, cached pass."""
    path = task / "wall_seconds.json"
    before = json.loads(path.read_text())["seconds"] if path.is_file() else 0.0
    total = round(before + time.time() - began, 1)
    atomic_write_json(path, {"seconds": total})
    return total


def reused(folder: Path) -> dict[str, Any] | None:
    """FOLDER/metrics.json of a finished evaluation, or None."""
    path = folder / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def calibrated(ckpt: Path, dev: Path, train: Path, out: Path, metric: str = "weighted_f1") -> PriorAdjustment:
    """The checkpoint's label-prior adjustment, fitted on its unadjusted label scores of the whole dev split
    for `metric`, with the training split's label frequencies as the prior; saved in the checkpoint."""
    evaluated(ckpt, dev, out, ("score",), any_adjustment=True, report=False)  # again if the precision changed
    done = read_prior_adjustment(ckpt)
    labels = get_labels(load_config(ckpt / "config.yaml").data.labels)
    adjustment = fit_from_predictions(out / "predictions.jsonl", labels, label_prior(train, labels), metric)
    if done == adjustment:  # fitted before on these same predictions
        return done
    save_prior_adjustment(ckpt, adjustment)
    log.info(
        "%s: label-prior adjustment tau %g (dev %s %s; %s)",
        ckpt,
        adjustment.tau,
        metric,
        adjustment.dev_scores,
        adjustment.selection,
    )
    return adjustment


def llm_entry(m: dict[str, Any]) -> dict[str, Any]:
    """An LLM's summary cell: label scoring, generation and, for a prior-adjusted model, its unadjusted scores and
    the adjustment (tau, metric, what it was fitted on, the dev score of each tau, how tau was chosen)."""
    entry = {**brief(m["score"]), "generate": brief(m["generate"])}
    if m.get("prior_adjustment"):
        entry["unadjusted"] = brief(m["score_unadjusted"])
        entry["prior_adjustment"] = {
            k: m["prior_adjustment"].get(k, "")
            for k in ("tau", "metric", "fitted_on", "dev_scores", "selection")
        }
    return entry
