"""Fitting a label-prior adjustment (`emollm.prior_adjustment`) on held-out predictions: the tau whose adjusted
argmax scores best on dev for a named metric."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from emollm.evaluation.metrics import classification_metrics
from emollm.prior_adjustment import PriorAdjustment

TAUS = tuple(round(0.1 * i, 1) for i in range(11))
METRICS = ("weighted_f1", "uar", "macro_f1", "accuracy")


def fit_prior_adjustment(
    probs: torch.Tensor,
    gold: Sequence[str],
    labels: Sequence[str],
    prior: Sequence[float],
    metric: str = "weighted_f1",
    fitted_on: str = "",
    taus: Sequence[float] = TAUS,
) -> PriorAdjustment:
    """The tau in `taus` whose adjusted argmax maximises `metric` on (probs `[N, K]`, gold); ties go to the smaller
    tau (the least change)."""
    if metric not in METRICS:
        raise ValueError(f"prior adjustment metric must be one of {METRICS}, got {metric!r}")
    if len(gold) != probs.shape[0] or not len(gold):
        raise ValueError(f"prior adjustment: {probs.shape[0]} score rows for {len(gold)} gold labels")
    scores: dict[str, float] = {}
    for tau in sorted(taus):
        adj = PriorAdjustment(tuple(labels), tuple(prior), float(tau))
        pred = [labels[int(i)] for i in adj.apply(probs).argmax(-1)]
        scores[f"{tau:g}"] = float(classification_metrics(list(gold), pred, tuple(labels))[metric])
    best = max(sorted(taus), key=lambda t: (scores[f"{t:g}"], -t))
    return PriorAdjustment(tuple(labels), tuple(prior), float(best), metric, fitted_on, scores)


def fit_from_predictions(
    predictions: str | Path, labels: Sequence[str], prior: Sequence[float], metric: str = "weighted_f1"
) -> PriorAdjustment:
    """Fit tau on an evaluation's predictions.jsonl, from its unadjusted label scores."""
    rows = [json.loads(x) for x in Path(predictions).read_text().splitlines() if x.strip()]
    rows = [r for r in rows if r.get("gold") is not None]
    scores = [r["unadjusted"]["scores"] if "unadjusted" in r else r["scores"] for r in rows]
    probs = torch.tensor([[s[lab] for lab in labels] for s in scores], dtype=torch.float64)
    return fit_prior_adjustment(probs, [r["gold"] for r in rows], labels, prior, metric, str(predictions))
