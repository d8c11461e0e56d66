"""Fitting a label-prior adjustment (`emollm.prior_adjustment`) on held-out predictions: the smallest tau whose adjusted
argmax scores within one standard error of the best on dev for a named metric."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from emollm.evaluation.metrics import classification_metrics, paired_bootstrap
from emollm.prior_adjustment import PriorAdjustment

TAUS = tuple(round(0.1 * i, 1) for i in range(11))
METRICS = ("weighted_f1", "uar", "macro_f1", "accuracy")
BOOTSTRAP = 200  # resamples for the standard error of a dev-score difference


def fit_prior_adjustment(
    probs: torch.Tensor,
    gold: Sequence[str],
    labels: Sequence[str],
    prior: Sequence[float],
    metric: str = "weighted_f1",
    fitted_on: str = "",
    taus: Sequence[float] = TAUS,
) -> PriorAdjustment:
    """The smallest tau in `taus` whose adjusted argmax scores `metric` on (probs `[N, K]`, gold) within one standard
    error of the best tau's (paired bootstrap over the samples: the one-standard-error rule), so a dev curve too flat
    to tell taus apart keeps the least change instead of a coin flip; ties go to the smaller tau."""
    if metric not in METRICS:
        raise ValueError(f"prior adjustment metric must be one of {METRICS}, got {metric!r}")
    if len(gold) != probs.shape[0] or not len(gold):
        raise ValueError(f"prior adjustment: {probs.shape[0]} score rows for {len(gold)} gold labels")
    preds: dict[float, list[str]] = {}
    scores: dict[str, float] = {}
    for tau in sorted(taus):
        adj = PriorAdjustment(tuple(labels), tuple(prior), float(tau))
        preds[tau] = [labels[int(i)] for i in adj.apply(probs).argmax(-1)]
        scores[f"{tau:g}"] = float(classification_metrics(list(gold), preds[tau], tuple(labels))[metric])
    best = max(sorted(taus), key=lambda t: (scores[f"{t:g}"], -t))
    chosen, selection = best, f"best tau {best:g}"
    for tau in sorted(t for t in taus if t < best):
        test = paired_bootstrap(gold, preds[best], preds[tau], labels, metric, n=BOOTSTRAP)
        if test["delta"] <= test["se"]:
            chosen = tau
            selection = (
                f"one-SE rule: tau {tau:g} scores {test['delta']:.4f} below the best tau {best:g}, within one "
                f"paired-bootstrap standard error ({test['se']:.4f})"
            )
            break
    return PriorAdjustment(tuple(labels), tuple(prior), float(chosen), metric, fitted_on, scores, selection)


def fit_from_predictions(
    predictions: str | Path, labels: Sequence[str], prior: Sequence[float], metric: str = "weighted_f1"
) -> PriorAdjustment:
    """Fit tau on an evaluation's predictions.jsonl, from its unadjusted label scores."""
    rows = [json.loads(x) for x in Path(predictions).read_text().splitlines() if x.strip()]
    rows = [r for r in rows if r.get("gold") is not None]
    scores = [r["unadjusted"]["scores"] if "unadjusted" in r else r["scores"] for r in rows]
    probs = torch.tensor([[s[lab] for lab in labels] for s in scores], dtype=torch.float64)
    return fit_prior_adjustment(probs, [r["gold"] for r in rows], labels, prior, metric, str(predictions))
