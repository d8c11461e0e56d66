"""`emollm compare`: is system A better than system B on the same samples? Paired bootstrap of the UAR and accuracy
differences (95% interval, one-sided p) and McNemar's exact test, over the samples both prediction files share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emollm.evaluation.metrics import classification_metrics, mcnemar, paired_bootstrap
from emollm.io import iter_jsonl

MODE_FIELD = {"score": "scored_label", "generate": "predicted"}


def load_predictions(
    path: str | Path, mode: str = "score"
) -> tuple[dict[str, tuple[str, str | None]], list[str]]:
    """{sample id: (gold, predicted or None)} of one mode from an eval folder or its predictions.jsonl, and the
    label set (from the folder's metrics.json when there is one)."""
    path = Path(path)
    file = path / "predictions.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(
            f"{path}: no predictions.jsonl (give an `emollm eval` output folder or the file)"
        )
    field = MODE_FIELD.get(mode)
    if field is None:
        raise ValueError(f"unknown mode {mode!r}; choose one of {sorted(MODE_FIELD)}")
    rows: dict[str, tuple[str, str | None]] = {}
    for line, record, err in iter_jsonl(file):
        if err is not None:
            raise ValueError(err)
        if field not in record:
            raise ValueError(
                f"{file}:{line}: sample {record.get('id')!r} has no {mode!r} prediction ({field})"
            )
        rows[record["id"]] = (record["gold"], record[field])
    return rows, _labels(file.parent / "metrics.json", mode)


def _labels(metrics_path: Path, mode: str) -> list[str]:
    if not metrics_path.is_file():
        return []
    per_class = json.loads(metrics_path.read_text()).get(mode, {}).get("per_class", {})
    return list(per_class)


def compare_predictions(
    a: str | Path,
    b: str | Path,
    mode: str = "score",
    names: tuple[str, str] = ("A", "B"),
    n: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired comparison of two prediction sets on the samples they share (gold labels must agree on each)."""
    rows_a, labels_a = load_predictions(a, mode)
    rows_b, labels_b = load_predictions(b, mode)
    common = sorted(rows_a.keys() & rows_b.keys())
    if not common:
        raise ValueError(f"{a} and {b} share no sample ids")
    for sid in common:
        if rows_a[sid][0] != rows_b[sid][0]:
            raise ValueError(
                f"sample {sid!r}: gold {rows_a[sid][0]!r} in {a} but {rows_b[sid][0]!r} in {b} (different label maps?)"
            )
    gold = [rows_a[s][0] for s in common]
    pred_a, pred_b = [rows_a[s][1] for s in common], [rows_b[s][1] for s in common]
    labels = list(
        dict.fromkeys([*labels_a, *labels_b, *gold, *(p for p in pred_a + pred_b if p is not None)])
    )
    result: dict[str, Any] = {"a": names[0], "b": names[1], "mode": mode, "n": len(common),
                              "only_in_a": len(rows_a) - len(common), "only_in_b": len(rows_b) - len(common)}  # fmt: skip
    for name, pred in zip(names, (pred_a, pred_b), strict=True):
        m = classification_metrics(gold, pred, labels)
        result[name] = {k: m[k] for k in ("accuracy", "uar", "macro_f1", "weighted_f1", "unparsed_rate")}
    for key in ("uar", "accuracy", "weighted_f1"):
        result[f"delta_{key}"] = paired_bootstrap(gold, pred_a, pred_b, labels, key=key, n=n, seed=seed)
    result["mcnemar"] = mcnemar(gold, pred_a, pred_b)
    return result


def format_comparison(c: dict[str, Any]) -> str:
    """A few readable lines: each system's scores, the paired differences and the tests."""
    a, b = c["a"], c["b"]
    lines = [
        f"{c['n']} shared samples ({c['only_in_a']} only in {a}, {c['only_in_b']} only in {b}); mode {c['mode']}"
    ]
    for name in (a, b):
        m = c[name]
        lines.append(
            f"  {name:<24} UAR {m['uar']:.3f}  accuracy {m['accuracy']:.3f}  unparsed {m['unparsed_rate']:.3f}"
        )
    for key in ("uar", "accuracy"):
        d = c[f"delta_{key}"]
        lines.append(
            f"  {key} {a} - {b}: {d['delta']:+.3f} [95% CI {d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}], "
            f"P({a} not better) = {d['p_value']:.3f}"
        )
    mc = c["mcnemar"]
    lines.append(f"  McNemar: only {a} right {mc['only_a_correct']}, only {b} right {mc['only_b_correct']}, "
                 f"p = {mc['p_value']:.4f}")  # fmt: skip
    return "\n".join(lines)
