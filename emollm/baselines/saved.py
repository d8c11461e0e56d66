"""Trained fusion baselines on disk (`OUT/<fusion>/model.safetensors` + `baseline.json` + `config.yaml`) and their
evaluation on any split file with `emollm eval --baseline DIR`, in the same predictions/metrics/report format as
the LLM."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from emollm.baselines.data import apply_stats, load_features
from emollm.baselines.models import build_fusion
from emollm.baselines.predict import predict_proba, prediction_rows, score_rows
from emollm.config import RunConfig, dump_config, load_config
from emollm.data.sample import split_roots
from emollm.evaluation.label_maps import map_split_into
from emollm.evaluation.report.eval import write_eval_report
from emollm.io import atomic_write_json, atomic_write_text, load_safetensors, write_jsonl
from emollm.prior_adjustment import PriorAdjustment, as_dict

FORMAT = 1


def save_baseline(
    folder: Path,
    model: torch.nn.Module,
    name: str,
    cfg: RunConfig,
    bc: Any,
    train: Any,
    stats: dict[str, tuple[torch.Tensor, torch.Tensor]],
    labels: tuple[str, ...],
    adjustment: PriorAdjustment | None = None,
) -> None:
    """Write the fusion's weights, its training normalisation statistics and everything needed to rebuild it
    (with its fitted label-prior adjustment, if any)."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    for m, (mean, std) in stats.items():
        tensors[f"norm.{m}.mean"], tensors[f"norm.{m}.std"] = mean.contiguous(), std.contiguous()
    tmp = folder / ".model.safetensors.tmp"
    save_file(tensors, str(tmp))
    tmp.replace(folder / "model.safetensors")
    atomic_write_text(folder / "config.yaml", dump_config(cfg))
    atomic_write_json(
        folder / "baseline.json",
        {
            "format": FORMAT,
            "fusion": name,
            "dims": {m: int(f.shape[-1]) for m, f in train.feats.items()},
            "modalities": train.modalities,
            "labels": list(labels),
            "label_set": cfg.data.labels,
            "task": bc.task,
            "text_encoder": bc.text_encoder,
            "per_speaker_norm": bc.per_speaker_norm,
            "modality_dropout": bc.modality_dropout,
            "class_weights": bc.class_weights,
            "seed": bc.seed,
            "prior_adjustment": as_dict(adjustment),
        },
    )


def read_baseline_meta(folder: str | Path) -> dict[str, Any]:
    """A saved baseline's baseline.json, after checking the folder holds one."""
    folder = Path(folder)
    meta_path = folder / "baseline.json"
    if not meta_path.is_file() or not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"{folder}: not a saved baseline (needs baseline.json and model.safetensors)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{meta_path}: unsupported baseline format {meta.get('format')!r}")
    return meta


def baseline_name(meta: dict[str, Any]) -> str:
    """A short name saying what the baseline is: fusion, text input, modality dropout, per-speaker norm."""
    parts = [f"baseline-{meta['fusion']}"]
    parts += ["text"] if "text" in meta["modalities"] else []
    parts += [f"mdrop{meta['modality_dropout']:g}"] if meta.get("modality_dropout") else []
    parts += ["spknorm"] if meta.get("per_speaker_norm") else []
    return "+".join(parts)


def load_baseline(folder: str | Path) -> tuple[torch.nn.Module, dict[str, Any], RunConfig, dict]:
    """Rebuild a saved fusion: (model in eval mode, baseline.json, run config, normalisation stats)."""

    folder = Path(folder)
    meta = read_baseline_meta(folder)
    tensors = load_safetensors(folder / "model.safetensors")
    regression = meta["task"] == "regression"
    model = build_fusion(
        meta["fusion"], meta["dims"], 2 if regression else len(meta["labels"]), regression=regression
    )
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    model.eval()
    stats = {
        m: (tensors[f"norm.{m}.mean"], tensors[f"norm.{m}.std"])
        for m in meta["dims"]
        if f"norm.{m}.mean" in tensors
    }
    return model, meta, load_config(folder / "config.yaml"), stats


def baseline_predictions(
    folder: str | Path, data: str | Path, cache_dir: str | Path, media_roots: Sequence[str | Path] = ()
) -> tuple[list[dict[str, Any]], list[dict], dict[str, Any]]:
    """Prediction rows (eval format) of a saved classification baseline on a split file, the samples it could not
    use, and its baseline.json."""
    model, meta, cfg, stats = load_baseline(folder)
    if meta["task"] != "classification":
        raise ValueError(f"{folder}: evaluating a regression baseline on a split file is not supported here")
    fs = load_features(cfg, data, cache_dir, meta["text_encoder"], media_roots)
    if len(fs) == 0:
        return [], fs.skipped, meta
    apply_stats(fs, stats, meta["per_speaker_norm"])
    began = time.time()
    with torch.no_grad():
        probs = predict_proba(model, fs)
    if meta.get("prior_adjustment"):  # the label-prior adjustment fitted in training
        probs = PriorAdjustment.from_dict(meta["prior_adjustment"], f"{folder}/baseline.json").apply(probs)
    per = (time.time() - began) / len(fs)
    rows = prediction_rows(fs, probs, tuple(meta["labels"]))
    for row in rows:
        row["score_seconds"] = round(per, 6)
    return rows, fs.skipped, meta


def evaluate_baseline(
    folder: str | Path,
    data: str | Path,
    out: str | Path,
    cache_dir: str | Path | None = None,
    label_map: str | Path | None = None,
    report: bool = True,
    media_roots: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Score a saved classification baseline on a split file (gold labels first mapped into its label space by
    `label_map`); write OUT/predictions.jsonl, OUT/metrics.json and (with `report`) OUT/report.{md,html}. Media may
    lie under the split's folder or one of `media_roots`."""
    meta, cfg = read_baseline_meta(folder), load_config(Path(folder) / "config.yaml")
    out = Path(out)
    mapping = None
    roots = [*media_roots]
    if label_map is not None:
        roots += split_roots(data)  # the mapped copy in OUT points back at the split's media
        data, _, mapping = map_split_into(data, label_map, meta["label_set"], out, allow_other=False)
    rows, skipped, meta = baseline_predictions(
        folder, data, cache_dir or cfg.data.cache_dir or out / "cache", roots
    )
    if not rows:
        raise ValueError(f"{data}: no usable samples for baseline {meta['fusion']}")
    labels = tuple(meta["labels"])
    score = score_rows(rows, labels)
    score["seconds_per_sample"] = sum(r["score_seconds"] for r in rows) / len(rows)
    metrics = {"score": score, "baseline": meta["fusion"], "checkpoint": str(folder), "data": str(data),
               "n_bad": len(skipped), "label_map": mapping}  # fmt: skip
    metrics["generated_data"] = any(r["id"].startswith("syn-") for r in rows)
    write_jsonl(out / "predictions.jsonl", rows)
    atomic_write_json(out / "metrics.json", metrics)
    if skipped:
        atomic_write_json(out / "bad_samples.json", skipped)
    if not report:
        return metrics

    info = {"checkpoint": str(folder), "baseline": meta["fusion"], "label_set": meta["label_set"],
            "modalities": ", ".join(meta["modalities"])}  # fmt: skip
    write_eval_report(out, metrics, labels, info)
    return metrics
