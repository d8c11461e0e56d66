"""Classification metrics shared by the LLM and the baselines. Definitions are in eval/README.md.

Accuracy = WAR (support-weighted recall). UAR = mean per-class recall. Macro-F1 = unweighted mean of per-class F1.
Weighted-F1 = per-class F1 weighted by gold support. An unparsed prediction (None) is wrong for every metric and
its rate is reported as `unparsed_rate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


def bootstrap_ci(
    gold: Sequence[str],
    pred: Sequence[str | None],
    labels: Sequence[str],
    n: int = 1000,
    seed: int = 0,
    keys: Sequence[str] = ("accuracy", "uar", "macro_f1", "weighted_f1"),
) -> dict:
    """Percentile bootstrap 95% intervals `{key: [low, high]}` over resampled test samples (seeded)."""
    rng = np.random.default_rng(seed)
    gold_arr, pred_arr = np.asarray(gold, dtype=object), np.asarray(pred, dtype=object)
    draws: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(n):
        idx = rng.integers(0, len(gold_arr), len(gold_arr))
        m = classification_metrics(list(gold_arr[idx]), list(pred_arr[idx]), labels)
        for k in keys:
            draws[k].append(m[k])
    return {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for k, v in draws.items()}


def mcnemar(
    gold: Sequence[str], pred_a: Sequence[str | None], pred_b: Sequence[str | None]
) -> dict[str, float]:
    """McNemar's test for two systems on the same samples: b = only A right, c = only B right; exact two-sided
    binomial p-value (unparsed answers count as wrong)."""
    from math import comb

    a_ok = [p == g for p, g in zip(pred_a, gold, strict=True)]
    b_ok = [p == g for p, g in zip(pred_b, gold, strict=True)]
    b = sum(x and not y for x, y in zip(a_ok, b_ok, strict=True))
    c = sum(y and not x for x, y in zip(a_ok, b_ok, strict=True))
    k, total = min(b, c), b + c
    p = min(1.0, 2 * sum(comb(total, i) for i in range(k + 1)) / 2**total) if total else 1.0
    return {"only_a_correct": b, "only_b_correct": c, "p_value": float(p)}


def paired_bootstrap(
    gold: Sequence[str],
    pred_a: Sequence[str | None],
    pred_b: Sequence[str | None],
    labels: Sequence[str],
    key: str = "uar",
    n: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Paired bootstrap for `key`: observed difference A - B, its percentile 95% interval over resamples, the
    share of resamples where A does not beat B (a one-sided p-value for "A is better") and its standard error."""
    rng = np.random.default_rng(seed)
    g, a, b = (np.asarray(x, dtype=object) for x in (gold, pred_a, pred_b))
    delta = (
        classification_metrics(list(g), list(a), labels)[key]
        - classification_metrics(list(g), list(b), labels)[key]
    )
    draws = []
    for _ in range(n):
        idx = rng.integers(0, len(g), len(g))
        draws.append(
            classification_metrics(list(g[idx]), list(a[idx]), labels)[key]
            - classification_metrics(list(g[idx]), list(b[idx]), labels)[key]
        )
    return {
        "delta": float(delta),
        "ci95": [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))],
        "p_value": float(np.mean(np.asarray(draws) <= 0)),
        "se": float(np.std(draws, ddof=1)),
    }


def mer2023_score(weighted_f1: float, valence_mse: float) -> float:
    """MER2023 combined score = weighted-F1 - 0.25 x valence MSE."""
    return float(weighted_f1 - 0.25 * valence_mse)


def mosi_metrics(gold: Sequence[float], pred: Sequence[float]) -> dict[str, float]:
    """CMU-MOSI/MOSEI sentiment conventions on scores in [-3, 3]: Acc-2 with zero counted as non-negative
    ("has-0") and with zero-gold samples left out ("non-0"), binary F1 (weighted) for both, Acc-7 on rounded,
    clipped scores, MAE and Pearson."""
    x = np.asarray(gold, dtype=np.float64)
    y = np.asarray(pred, dtype=np.float64)
    out = {"mae": float(np.abs(x - y).mean()), "pearson": regression_metrics(x, y)["pearson"]}
    for name, keep in (("has0", np.ones_like(x, dtype=bool)), ("non0", x != 0)):
        g = np.where(x[keep] >= 0, "pos", "neg")
        p = np.where(y[keep] >= 0, "pos", "neg")
        m = classification_metrics(list(g), list(p), ["neg", "pos"])
        out[f"acc2_{name}"], out[f"f1_{name}"] = m["accuracy"], m["weighted_f1"]
    g7 = np.clip(np.round(x), -3, 3).astype(int).astype(str)
    p7 = np.clip(np.round(y), -3, 3).astype(int).astype(str)
    out["acc7"] = float((g7 == p7).mean())
    return out


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> dict[str, object]:
    """Reliability diagram data for label scores: per equal-width confidence bin the mean confidence, accuracy and
    count, plus the expected calibration error (ECE = sum_b n_b/N |acc_b - conf_b|)."""
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    if conf.size == 0:
        raise ValueError("no predictions to calibrate")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        n = int(sel.sum())
        if n:
            acc, mean_conf = float(hit[sel].mean()), float(conf[sel].mean())
            ece += n / conf.size * abs(acc - mean_conf)
            rows.append(
                {
                    "lo": float(edges[b]),
                    "hi": float(edges[b + 1]),
                    "n": n,
                    "confidence": mean_conf,
                    "accuracy": acc,
                }
            )
    return {"bins": rows, "ece": float(ece)}


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The summary keys of one mode's metrics (accuracy, uar, macro_f1, weighted_f1, unparsed_rate, n)."""
    keys = ("accuracy", "uar", "macro_f1", "weighted_f1", "unparsed_rate", "n")
    return {k: metrics[k] for k in keys}


def format_table(named: dict[str, dict[str, Any]]) -> str:
    """A plain-text table of headline metrics, one row per named result."""
    cols = ("accuracy", "uar", "macro_f1", "weighted_f1", "unparsed_rate", "n")
    width = max(len(n) for n in named) + 2
    lines = ["".ljust(width) + "".join(c.rjust(14) for c in cols)]
    for name, m in named.items():
        cells = [f"{m[c]:.4f}" if isinstance(m[c], float) else str(m[c]) for c in cols]
        lines.append(name.ljust(width) + "".join(c.rjust(14) for c in cells))
    return "\n".join(lines)
