"""Train and evaluate fusion baselines; outputs use the same predictions.jsonl / metrics.json format as `emollm eval`
(a classifier is scored like label scoring: mode `score`, never unparsed)."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from emollm.baselines.data import FeatureSet, load_features, standardize
from emollm.baselines.models import build_fusion
from emollm.config import RunConfig
from emollm.evaluate import format_table, headline
from emollm.io import atomic_write_json, write_jsonl
from emollm.labels import get_labels
from emollm.metrics import classification_metrics

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


@dataclass
class BaselineConfig:
    """Optimisation settings shared by every fusion baseline."""

    epochs: int = 80
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 15
    seed: int = 0
    class_weights: bool = False
    modality_dropout: float = 0.0
    per_speaker_norm: bool = False
    text_encoder: str = ""
    """Sentence encoder (hub id or path) giving the baselines a `text` modality; empty = no text."""


def _batch(fs: FeatureSet, idx: torch.Tensor) -> tuple[dict, dict, torch.Tensor]:
    return (
        {m: f[idx] for m, f in fs.feats.items()},
        {m: k[idx] for m, k in fs.masks.items()},
        fs.present[idx],
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


@torch.no_grad()
def predict_proba(model: torch.nn.Module, fs: FeatureSet) -> torch.Tensor:
    """Class probabilities `[N, K]`."""
    model.eval()
    feats, masks, present = _batch(fs, torch.arange(len(fs)))
    return model(feats, masks, present, fs.modalities).softmax(-1)


def fit(
    name: str, train: FeatureSet, dev: FeatureSet, classes: int, bc: BaselineConfig
) -> tuple[torch.nn.Module, dict]:
    """Train with AdamW and cross-entropy; keep the epoch with the best dev UAR (early stopping)."""
    torch.manual_seed(bc.seed)
    gen = torch.Generator().manual_seed(bc.seed)
    dims = {m: f.shape[-1] for m, f in train.feats.items()}
    model = build_fusion(name, dims, classes)
    opt = torch.optim.AdamW(model.parameters(), lr=bc.lr, weight_decay=bc.weight_decay)
    counts = torch.bincount(train.y, minlength=classes).float()
    weight = (counts.sum() / (classes * counts.clamp_min(1))) if bc.class_weights else None
    best, best_uar, stale, epochs_run = copy.deepcopy(model.state_dict()), -1.0, 0, 0
    for epoch in range(bc.epochs):
        model.train()
        order = torch.randperm(len(train), generator=gen)
        for start in range(0, len(order), bc.batch_size):
            idx = order[start : start + bc.batch_size]
            feats, masks, present = _batch(train, idx)
            if bc.modality_dropout > 0:
                masks, present = _drop_modalities(masks, present, bc.modality_dropout, gen)
            loss = F.cross_entropy(
                model(feats, masks, present, train.modalities), train.y[idx], weight=weight
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        pred = predict_proba(model, dev).argmax(-1)
        labels = [str(i) for i in range(classes)]
        uar = classification_metrics([str(int(v)) for v in dev.y], [str(int(v)) for v in pred], labels)["uar"]
        epochs_run = epoch + 1
        if uar > best_uar:
            best, best_uar, stale = copy.deepcopy(model.state_dict()), uar, 0
        else:
            stale += 1
            if stale >= bc.patience:
                break
    model.load_state_dict(best)
    return model, {"best_dev_uar": best_uar, "epochs": epochs_run}


def _holdout(train: FeatureSet, seed: int) -> tuple[FeatureSet, FeatureSet]:
    """Split 15% of train off for early stopping when no dev split is given."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    cut = max(1, int(0.15 * len(order)))
    return train.subset(order[cut:]), train.subset(order[:cut])


def prediction_rows(test: FeatureSet, probs: torch.Tensor, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    """Prediction rows in `emollm eval`'s format."""
    rows = []
    for i, (sid, gold, p) in enumerate(zip(test.ids, test.y, probs, strict=True)):
        label = labels[int(p.argmax())]
        rows.append(
            {
                "id": sid,
                "gold": labels[int(gold)],
                "predicted": label,
                "scored_label": label,
                "scores": {lab: round(float(v), 6) for lab, v in zip(labels, p, strict=True)},
                "modalities": [m for j, m in enumerate(test.modalities) if test.present[i, j]],
            }
        )
    return rows


def _score(rows: list[dict], labels: tuple[str, ...]) -> dict[str, Any]:
    return classification_metrics([r["gold"] for r in rows], [r["predicted"] for r in rows], labels)


def _finish(out: Path, results: dict[str, Any], rows: dict[str, list[dict]]) -> dict[str, Any]:
    """Write each fusion's predictions and metrics, and the comparison table."""
    for name, metrics in results.items():
        write_jsonl(out / name / "predictions.jsonl", rows[name])
        atomic_write_json(out / name / "metrics.json", metrics)
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
    bc = bc or BaselineConfig()
    data_dir, out = Path(data_dir), Path(out)
    labels = get_labels(cfg.data.labels)
    cache = cache_dir or cfg.data.cache_dir or out / "cache"
    train = load_features(cfg, data_dir / "train.jsonl", cache, bc.text_encoder)
    dev_file = data_dir / "dev.jsonl"
    dev = load_features(cfg, dev_file, cache, bc.text_encoder) if dev_file.is_file() else None
    test = load_features(cfg, data_dir / "test.jsonl", cache, bc.text_encoder)
    if dev is None:
        train, dev = _holdout(train, bc.seed)
    standardize(train, dev, test, per_speaker=bc.per_speaker_norm)
    results, rows = {}, {}
    for name in fusions:
        if name.startswith("unimodal-") and name.split("-", 1)[1] not in train.modalities:
            continue
        began = time.time()
        model, info = fit(name, train, dev, len(labels), bc)
        seconds = time.time() - began
        rows[name] = prediction_rows(test, predict_proba(model, test), labels)
        results[name] = {
            "score": _score(rows[name], labels),
            "baseline": name,
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
) -> dict[str, Any]:
    """Leave-one-speaker-out: for each speaker, train on the others (15% held out for early stopping) and test on
    that speaker. Metrics are over the pooled predictions of all folds, plus each fold's UAR and their mean."""
    bc = bc or BaselineConfig()
    out = Path(out)
    labels = get_labels(cfg.data.labels)
    everything = load_features(cfg, data, cache_dir or cfg.data.cache_dir or out / "cache", bc.text_encoder)
    speakers = sorted(set(everything.speakers))
    if len(speakers) < 2:
        raise ValueError(f"{data}: leave-one-speaker-out needs at least 2 speakers, found {speakers}")
    results, rows = {}, {}
    for name in fusions:
        rows[name], fold_uar, seconds = [], {}, 0.0
        for speaker in speakers:
            held = torch.tensor([i for i, s in enumerate(everything.speakers) if s == speaker])
            rest = torch.tensor([i for i, s in enumerate(everything.speakers) if s != speaker])
            train, dev = _holdout(everything.subset(rest), bc.seed)
            test = everything.subset(held)
            standardize(train, dev, test, per_speaker=bc.per_speaker_norm)
            began = time.time()
            model, _ = fit(name, train, dev, len(labels), bc)
            seconds += time.time() - began
            fold = prediction_rows(test, predict_proba(model, test), labels)
            fold_uar[speaker] = _score(fold, labels)["uar"]
            rows[name] += fold
        results[name] = {
            "score": _score(rows[name], labels),
            "baseline": name,
            "protocol": "leave-one-speaker-out",
            "fold_uar": fold_uar,
            "mean_fold_uar": sum(fold_uar.values()) / len(fold_uar),
            "train_seconds": round(seconds, 2),
            "per_speaker_norm": bc.per_speaker_norm,
            "data": str(data),
        }
        log.info(
            "%s LOSO: pooled uar %.3f, mean fold uar %.3f (%.1f s)",
            name,
            results[name]["score"]["uar"],
            results[name]["mean_fold_uar"],
            seconds,
        )
    return _finish(out, results, rows)
