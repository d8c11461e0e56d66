"""Predictions of a trained fusion baseline, in `emollm eval`'s row format, and their metrics (mode `score`)."""

from __future__ import annotations

from typing import Any

import torch

from emollm.baselines.data import FeatureSet
from emollm.evaluation.metrics import bootstrap_ci, classification_metrics


def batch_inputs(fs: FeatureSet, idx: torch.Tensor) -> tuple[dict, dict, torch.Tensor]:
    """Features, masks and presence `[B, M]` of rows `idx`."""
    return (
        {m: f[idx] for m, f in fs.feats.items()},
        {m: k[idx] for m, k in fs.masks.items()},
        fs.present[idx],
    )


def predict_proba(model: torch.nn.Module, fs: FeatureSet) -> torch.Tensor:
    """Class probabilities `[N, K]`."""
    return predict_values(model, fs).softmax(-1)


@torch.no_grad()
def predict_values(model: torch.nn.Module, fs: FeatureSet) -> torch.Tensor:
    """Raw model outputs `[N, K]` (class logits, or valence/arousal values)."""
    model.eval()
    feats, masks, present = batch_inputs(fs, torch.arange(len(fs)))
    return model(feats, masks, present, fs.modalities)


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


def score_rows(rows: list[dict], labels: tuple[str, ...], ci: bool = True) -> dict[str, Any]:
    """Classification metrics of prediction rows (with bootstrap 95% CIs when `ci`)."""
    gold, pred = [r["gold"] for r in rows], [r["predicted"] for r in rows]
    metrics = classification_metrics(gold, pred, labels)
    if ci:
        metrics["ci95"] = bootstrap_ci(gold, pred, labels)
    return metrics
