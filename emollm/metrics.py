"""Classification metrics shared by the LLM and the baselines. Definitions are in eval/README.md.

Accuracy = WAR (support-weighted recall). UAR = mean per-class recall. Macro-F1 = unweighted mean of per-class F1.
Weighted-F1 = per-class F1 weighted by gold support. An unparsed prediction (None) is wrong for every metric and
its rate is reported as `unparsed_rate`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

UNPARSED = "<unparsed>"


def confusion_matrix(gold: Sequence[str], pred: Sequence[str | None], labels: Sequence[str]) -> np.ndarray:
    """Counts [K, K+1]: rows gold label, columns predicted label, the last column unparsed answers."""
    index = {label: i for i, label in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels) + 1), dtype=np.int64)
    for g, p in zip(gold, pred, strict=True):
        if g not in index:
            raise ValueError(f"gold label {g!r} is not in the label set {list(labels)}")
        if p is not None and p not in index:
            raise ValueError(
                f"predicted label {p!r} is not in the label set {list(labels)}; use None for unparsed"
            )
        cm[index[g], len(labels) if p is None else index[p]] += 1
    return cm


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def classification_metrics(
    gold: Sequence[str], pred: Sequence[str | None], labels: Sequence[str]
) -> dict[str, object]:
    """accuracy, uar, macro_f1, weighted_f1, unparsed_rate, n, per_class and confusion for one prediction set."""
    if len(gold) == 0:
        raise ValueError("no predictions to score")
    cm = confusion_matrix(gold, pred, labels)
    k = len(labels)
    tp = np.diag(cm[:, :k]).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm[:, :k].sum(axis=0).astype(np.float64)
    recall = _safe_div(tp, support)
    precision = _safe_div(tp, predicted)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    present = support > 0
    n = int(cm.sum())
    return {
        "accuracy": float(tp.sum() / n),
        "uar": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "weighted_f1": float((f1 * support).sum() / support.sum()),
        "unparsed_rate": float(cm[:, k].sum() / n),
        "n": n,
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": {"labels": [*labels, UNPARSED], "matrix": cm.tolist()},
    }


def regression_metrics(gold: Sequence[float], pred: Sequence[float]) -> dict[str, float]:
    """ccc, pearson, mse, rmse, mae and n for one continuous target (population moments).

    CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2), i.e. 2 rho sx sy / (sx^2 + sy^2 + (mx - my)^2).
    """
    x = np.asarray(gold, dtype=np.float64)
    y = np.asarray(pred, dtype=np.float64)
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"need equally long non-empty gold and predictions, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("regression targets and predictions must be finite")
    mx, my = x.mean(), y.mean()
    vx, vy = x.var(), y.var()
    cov = ((x - mx) * (y - my)).mean()
    denom = vx + vy + (mx - my) ** 2
    mse = float(((x - y) ** 2).mean())
    return {
        "ccc": float(2 * cov / denom) if denom > 0 else 0.0,
        "pearson": float(cov / np.sqrt(vx * vy)) if vx > 0 and vy > 0 else 0.0,
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.abs(x - y).mean()),
        "n": int(x.size),
    }
