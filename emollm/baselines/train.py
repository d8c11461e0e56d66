"""Train and evaluate fusion baselines; outputs use the same predictions.jsonl / metrics.json format as `emollm eval`
(a classifier is scored like label scoring: mode `score`, never unparsed)."""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from emollm.baselines.data import FeatureSet, load_features, standardize
from emollm.baselines.models import build_fusion, masked_mean
from emollm.baselines.predict import batch_inputs, predict_proba, predict_values, prediction_rows, score_rows
from emollm.baselines.saved import save_baseline
from emollm.baselines.tfidf import fit_logistic
from emollm.config import BaselineConfig, RunConfig
from emollm.evaluation.metrics import (
    classification_metrics,
    format_table,
    headline,
    regression_metrics,
)
from emollm.evaluation.prior_fit import fit_prior_adjustment
from emollm.io import atomic_write_json, write_jsonl
from emollm.labels import get_labels
from emollm.prior_adjustment import PriorAdjustment, applied, as_dict, smoothed_prior

log = logging.getLogger("emollm.baselines")
ALL = (
    "unimodal-video",
    "unimodal-audio",
    "unimodal-sensor",
    "unimodal-text",
    "early",
    "late",
    "late-vote",
    "late-learned",
    "late-gate",
    "hybrid-attention",
    "hybrid-gated",
    "mult",
    "tfn",
    "lmf",
)


def _drop_modalities(
    masks: dict, present: torch.Tensor, p: float, gen: torch.Generator
) -> tuple[dict, torch.Tensor]:
    """Randomly hide present modalities (keeping at least one per sample) for robustness training."""
    drop = (torch.rand(present.shape, generator=gen) < p) & present
    keep_one = drop.sum(1) >= present.sum(1)
    drop[keep_one] = False
    present = present & ~drop
    masks = {m: k & present[:, i, None] for i, (m, k) in enumerate(masks.items())}
    return masks, present


def ccc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - mean concordance correlation over target columns `[B, D]` (batch moments)."""
    mp, mt = pred.mean(0), target.mean(0)
    vp, vt = pred.var(0, unbiased=False), target.var(0, unbiased=False)
    cov = ((pred - mp) * (target - mt)).mean(0)
    return 1 - (2 * cov / (vp + vt + (mp - mt) ** 2 + 1e-8)).mean()


def _devscore_rows(model: torch.nn.Module, dev: FeatureSet, regression: bool, classes: int) -> float:
    """Dev UAR (classification) or mean valence/arousal CCC (regression), the early-stopping criterion."""
    if regression:
        out = predict_values(model, dev)
        return sum(regression_metrics(dev.va[:, j], out[:, j])["ccc"] for j in range(2)) / 2
    pred = predict_proba(model, dev).argmax(-1)
    labels = [str(i) for i in range(classes)]
    return classification_metrics([str(int(v)) for v in dev.y], [str(int(v)) for v in pred], labels)["uar"]


def fit(
    name: str, train: FeatureSet, dev: FeatureSet, classes: int, bc: BaselineConfig
) -> tuple[torch.nn.Module, dict]:
    """Train with AdamW (cross-entropy, or a CCC loss for valence/arousal regression); keep the epoch with the best
    dev score (UAR, or mean CCC) and stop after `patience` epochs without improvement."""
    regression = bc.task == "regression"
    torch.manual_seed(bc.seed)
    gen = torch.Generator().manual_seed(bc.seed)
    dims = {m: f.shape[-1] for m, f in train.feats.items()}
    model = build_fusion(name, dims, 2 if regression else classes, regression=regression)
    opt = torch.optim.AdamW(model.parameters(), lr=bc.lr, weight_decay=bc.weight_decay)
    counts = torch.bincount(train.y, minlength=classes).float()
    weight = (counts.sum() / (classes * counts.clamp_min(1))) if bc.class_weights else None
    if name.startswith("linear-") and not regression:
        return _fit_linear(model, train, dev, classes, bc, weight)
    best, best_score, stale, epochs_run = copy.deepcopy(model.state_dict()), -float("inf"), 0, 0
    for epoch in range(bc.epochs):
        model.train()
        order = torch.randperm(len(train), generator=gen)
        for start in range(0, len(order), bc.batch_size):
            idx = order[start : start + bc.batch_size]
            if len(idx) < 2:
                continue
            feats, masks, present = batch_inputs(train, idx)
            if bc.modality_dropout > 0:
                masks, present = _drop_modalities(masks, present, bc.modality_dropout, gen)
            out = model(feats, masks, present, train.modalities)
            loss = (
                ccc_loss(out, train.va[idx])
                if regression
                else F.cross_entropy(out, train.y[idx], weight=weight)
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        score = _devscore_rows(model, dev, regression, classes)
        epochs_run = epoch + 1
        if score > best_score:
            best, best_score, stale = copy.deepcopy(model.state_dict()), score, 0
        else:
            stale += 1
            if stale >= bc.patience:
                break
    model.load_state_dict(best)
    return model, {
        "best_dev_score": best_score,
        "dev_metric": "mean_ccc" if regression else "uar",
        "epochs": epochs_run,
    }


def _fit_linear(
    model: torch.nn.Module,
    train: FeatureSet,
    dev: FeatureSet,
    classes: int,
    bc: BaselineConfig,
    weight: Tensor | None,
) -> tuple[torch.nn.Module, dict]:
    """Logistic regression on the masked-mean features of the training rows that have the modality, by L-BFGS with
    `bc.l2` x ||W||^2 (no early stopping); rows without the modality get the training label prior's log."""
    m = model.modalities[0]
    col = train.modalities.index(m)
    rows = train.present[:, col]
    x = masked_mean(train.feats[m][rows], train.masks[m][rows])
    fitted = fit_logistic(x, train.y[rows], classes, bc.l2, weight)
    counts = torch.bincount(train.y, minlength=classes).float() + 1
    with torch.no_grad():
        model.head.weight.copy_(fitted.weight)
        model.head.bias.copy_(fitted.bias)
        model.missing.copy_((counts / counts.sum()).log())
    return model, {"fit": "lbfgs", "l2": bc.l2, "dev_uar": _devscore_rows(model, dev, False, classes)}


def _holdout(train: FeatureSet, seed: int) -> tuple[FeatureSet, FeatureSet]:
    """Split 15% of train off for early stopping when no dev split is given."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    cut = max(1, int(0.15 * len(order)))
    return train.subset(order[cut:]), train.subset(order[:cut])


def _regression_result(name: str, test: FeatureSet, out: torch.Tensor, seconds: float, info: dict) -> tuple:
    """Prediction rows and metrics (CCC, Pearson, MSE, RMSE, MAE per target) of a regression baseline."""
    rows = [
        {
            "id": sid,
            "gold": {"valence": float(g[0]), "arousal": float(g[1])},
            "predicted": {"valence": round(float(p[0]), 6), "arousal": round(float(p[1]), 6)},
            "modalities": [m for j, m in enumerate(test.modalities) if test.present[i, j]],
        }
        for i, (sid, g, p) in enumerate(zip(test.ids, test.va, out, strict=True))
    ]
    per = {t: regression_metrics(test.va[:, j], out[:, j]) for j, t in enumerate(("valence", "arousal"))}
    metrics = {
        "regression": {**per, "mean_ccc": (per["valence"]["ccc"] + per["arousal"]["ccc"]) / 2},
        "baseline": name,
        "train_seconds": round(seconds, 2),
        **info,
    }
    return rows, metrics


def _finish(out: Path, results: dict[str, Any], rows: dict[str, list[dict]]) -> dict[str, Any]:
    """Write each fusion's predictions and metrics, and the comparison table."""
    for name, metrics in results.items():
        write_jsonl(out / name / "predictions.jsonl", rows[name])
        atomic_write_json(out / name / "metrics.json", metrics)
    if results and "regression" in next(iter(results.values())):
        table = {
            name: {
                "valence_ccc": m["regression"]["valence"]["ccc"],
                "arousal_ccc": m["regression"]["arousal"]["ccc"],
                "mean_ccc": m["regression"]["mean_ccc"],
                "valence_mse": m["regression"]["valence"]["mse"],
                "arousal_mse": m["regression"]["arousal"]["mse"],
                "train_seconds": m["train_seconds"],
            }
            for name, m in results.items()
        }
        atomic_write_json(out / "comparison.json", table)
        lines = ["".ljust(20) + "".join(c.rjust(14) for c in list(table[next(iter(table))])[:-1])]
        lines += [
            n.ljust(20) + "".join(f"{v:14.4f}" for v in list(r.values())[:-1]) for n, r in table.items()
        ]
        (out / "comparison.md").write_text("```\n" + "\n".join(lines) + "\n```\n")
        return results
    table = {
        name: {**headline(m["score"]), "train_seconds": m["train_seconds"]} for name, m in results.items()
    }
    atomic_write_json(out / "comparison.json", table)
    (out / "comparison.md").write_text("```\n" + format_table(table) + "\n```\n")
    return results


def run_baselines(
    cfg: RunConfig,
    data_dir: str | Path,
    out: str | Path,
    fusions: tuple[str, ...] = ALL,
    bc: BaselineConfig | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train each fusion on DIR/train.jsonl (early stopping on DIR/dev.jsonl), score DIR/test.jsonl; write
    OUT/<fusion>/{predictions.jsonl,metrics.json} and OUT/comparison.{json,md}; return {fusion: metrics}."""
    bc = bc or cfg.baseline
    data_dir, out = Path(data_dir), Path(out)
    labels = get_labels(cfg.data.labels)
    cache = cache_dir or cfg.data.cache_dir or out / "cache"
    train = load_features(cfg, data_dir / "train.jsonl", cache, bc.text_encoder)
    dev_file = data_dir / "dev.jsonl"
    dev = load_features(cfg, dev_file, cache, bc.text_encoder) if dev_file.is_file() else None
    test = load_features(cfg, data_dir / "test.jsonl", cache, bc.text_encoder)
    if dev is None:
        train, dev = _holdout(train, bc.seed)
    stats = standardize(train, dev, test, per_speaker=bc.per_speaker_norm)
    if bc.task not in ("classification", "regression"):
        raise ValueError(f"baseline task must be classification or regression, got {bc.task!r}")
    if bc.task == "regression" and any(torch.isnan(fs.va).any() for fs in (train, dev, test)):
        raise ValueError(f"{data_dir}: regression needs valence and arousal labels on every sample")
    results, rows = {}, {}
    for name in fusions:
        if bc.task == "regression" and name == "late-vote":
            continue
        if name.startswith(("unimodal-", "linear-")) and name.split("-", 1)[1] not in train.modalities:
            continue
        began = time.time()
        model, info = fit(name, train, dev, len(labels), bc)
        seconds = time.time() - began
        adjustment = fitted_adjustment(model, train, dev, labels, bc)
        save_baseline(out / name, model, name, cfg, bc, train, stats, labels, adjustment)
        if bc.task == "regression":
            rows[name], results[name] = _regression_result(
                name, test, predict_values(model, test), seconds, info
            )
            continue
        rows[name] = prediction_rows(test, applied(predict_proba(model, test), adjustment), labels)
        results[name] = {
            "score": score_rows(rows[name], labels),
            "baseline": name,
            "prior_adjustment": as_dict(adjustment),
            "train_seconds": round(seconds, 2),
            **info,
            "data": str(data_dir / "test.jsonl"),
        }
        log.info(
            "%s: accuracy %.3f uar %.3f (%.1f s)",
            name,
            results[name]["score"]["accuracy"],
            results[name]["score"]["uar"],
            seconds,
        )
    return _finish(out, results, rows)


def run_loso(
    cfg: RunConfig,
    data: str | Path,
    out: str | Path,
    fusions: tuple[str, ...],
    bc: BaselineConfig | None = None,
    cache_dir: str | Path | None = None,
    folds: list[list[str]] | None = None,
) -> dict[str, Any]:
    """Leave-one-speaker-out: for each speaker (or each group of speakers in `folds`), train on the others (15% held
    out for early stopping) and test on it. Metrics are over the pooled predictions of all folds, plus each fold's UAR
    and their mean."""
    bc = bc or cfg.baseline
    if bc.task != "classification":
        raise ValueError("leave-one-speaker-out runs classification baselines only")
    out = Path(out)
    labels = get_labels(cfg.data.labels)
    everything = load_features(cfg, data, cache_dir or cfg.data.cache_dir or out / "cache", bc.text_encoder)
    speakers = sorted(set(everything.speakers))
    if len(speakers) < 2:
        raise ValueError(f"{data}: leave-one-speaker-out needs at least 2 speakers, found {speakers}")
    groups = folds or [[s] for s in speakers]
    if sorted(s for g in groups for s in g) != speakers:
        raise ValueError(f"folds {groups} must hold every speaker of {data} once: {speakers}")
    results, rows = {}, {}
    for name in fusions:
        rows[name], fold_uar, seconds = [], {}, 0.0
        for group in groups:
            speaker = "+".join(group)
            held = torch.tensor([i for i, s in enumerate(everything.speakers) if s in group])
            rest = torch.tensor([i for i, s in enumerate(everything.speakers) if s not in group])
            train, dev = _holdout(everything.subset(rest), bc.seed)
            test = everything.subset(held)
            standardize(train, dev, test, per_speaker=bc.per_speaker_norm)
            began = time.time()
            model, _ = fit(name, train, dev, len(labels), bc)
            seconds += time.time() - began
            adjustment = fitted_adjustment(model, train, dev, labels, bc)
            fold = prediction_rows(test, applied(predict_proba(model, test), adjustment), labels)
            fold_uar[speaker] = score_rows(fold, labels, ci=False)["uar"]
            rows[name] += fold
        results[name] = {
            "score": score_rows(rows[name], labels),
            "baseline": name,
            "protocol": "leave-one-speaker-out" if folds is None else f"leave-{len(groups[0])}-speakers-out",
            "fold_uar": fold_uar,
            "mean_fold_uar": sum(fold_uar.values()) / len(fold_uar),
            "train_seconds": round(seconds, 2),
            "per_speaker_norm": bc.per_speaker_norm,
            "data": str(data),
            "features": feature_settings(cfg),
        }
        log.info(
            "%s LOSO: pooled uar %.3f, mean fold uar %.3f (%.1f s)",
            name,
            results[name]["score"]["uar"],
            results[name]["mean_fold_uar"],
            seconds,
        )
    return _finish(out, results, rows)


def feature_settings(cfg: RunConfig) -> dict[str, dict[str, Any]]:
    """Each modality's encoder and its arguments: what a saved result's features came from."""
    return {
        m: {"encoder": mc.encoder, "encoder_args": dict(mc.encoder_args)} for m, mc in cfg.modalities.items()
    }


def fitted_adjustment(
    model: torch.nn.Module, train: FeatureSet, dev: FeatureSet, labels: tuple[str, ...], bc: BaselineConfig
) -> PriorAdjustment | None:
    """The label-prior adjustment fitted on dev for `bc.prior_adjustment` (prior: training label frequencies,
    add-one smoothed), or None when it is not asked for."""
    if not bc.prior_adjustment:
        return None
    prior = smoothed_prior(torch.bincount(train.y, minlength=len(labels)).tolist())
    gold = [labels[int(y)] for y in dev.y]
    return fit_prior_adjustment(predict_proba(model, dev), gold, labels, prior, bc.prior_adjustment, "dev")
