"""Metrics of one evaluation from its prediction rows: per mode, with latency, calibration, valence/arousal and
rationale grounding; and the accounting of every sample the evaluation could not score."""

from __future__ import annotations

from collections import Counter
from typing import Any

from emollm.evaluation.metrics import (
    bootstrap_ci,
    classification_metrics,
    headline,
    regression_metrics,
    reliability,
)

MODE_KEYS = {"generate": "predicted", "score": "scored_label"}


def summarize(rows: list[dict[str, Any]], labels: tuple[str, ...], modes: tuple[str, ...]) -> dict[str, Any]:
    """Metrics per mode from prediction rows, with mean latency per sample."""
    gold = [r["gold"] for r in rows]
    result: dict[str, Any] = {}
    for mode, key, seconds in (
        ("generate", "predicted", "generate_seconds"),
        ("score", "scored_label", "score_seconds"),
    ):
        if mode in modes:
            pred = [r[key] for r in rows]
            result[mode] = classification_metrics(gold, pred, labels)
            result[mode]["ci95"] = bootstrap_ci(gold, pred, labels)
            result[mode]["seconds_per_sample"] = sum(r[seconds] for r in rows) / len(rows)
    if "generate" in modes:  # answers read from a lone label word rather than an `Emotion: X` line
        result["generate"]["fallback_rate"] = sum(r.get("parsed_via") == "word" for r in rows) / len(rows)
        # generated rationales that cite a cue of an input the model was not given (face without video, ...)
        result["generate"]["rationale_absent_rate"] = sum(
            bool(r.get("rationale_absent")) for r in rows
        ) / len(rows)
    # a prior-adjusted model's label scores before its adjustment, kept in each row
    if "score" in modes and rows and all("unadjusted" in r for r in rows):
        raw = [r["unadjusted"]["scored_label"] for r in rows]
        result["score_unadjusted"] = classification_metrics(gold, raw, labels)
        result["score_unadjusted"]["ci95"] = bootstrap_ci(gold, raw, labels)
    if "score" in modes:
        conf = [max(r["scores"].values()) for r in rows]
        result["score"]["calibration"] = reliability(conf, [r["scored_label"] == r["gold"] for r in rows])
        result["score"]["ece"] = result["score"]["calibration"]["ece"]
    with_va = [r for r in rows if "gold_va" in r]
    if "generate" in modes and with_va:
        result["generate"]["valence_arousal"] = va_metrics(with_va)
    checked = [r for r in rows if "rationale_problems" in r]
    if "generate" in modes and checked:
        claims = sum(r["rationale_claims"] for r in checked) or 1
        result["generate"].update(
            rationale_checked=len(checked),
            rationale_grounded_rate=sum(not r["rationale_problems"] for r in checked) / len(checked),
            rationale_level_grounded_rate=sum(not r["rationale_level_problems"] for r in checked)
            / len(checked),
            rationale_claim_accuracy=1 - sum(len(r["rationale_problems"]) for r in checked) / claims,
            rationale_level_claim_accuracy=1
            - sum(len(r["rationale_level_problems"]) for r in checked) / claims,
        )
    return result


def va_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """CCC/MSE/... of parsed valence and arousal answers; an unreadable VA answer counts as unparsed (not scored)."""
    read = [r for r in rows if r["predicted_va"] is not None]
    out: dict[str, Any] = {"n": len(rows), "unparsed_rate": 1 - len(read) / len(rows)}
    if len(read) >= 2:
        for j, name in enumerate(("valence", "arousal")):
            out[name] = regression_metrics(
                [r["gold_va"][j] for r in read], [r["predicted_va"][j] for r in read]
            )
    return out


def dropped_accounting(
    rows: list[dict[str, Any]],
    dropped: list[dict[str, Any]],
    n_bad_records: int,
    labels: tuple[str, ...],
    modes: tuple[str, ...],
) -> dict[str, Any]:
    """`n_dropped` per reason (bad_record | bad_media | encoder_error | no_encoder | no_input) and, per mode, the
    headline metrics over every sample with a readable gold label: the dropped ones count as wrong (unparsed). Bad
    records (malformed lines, unknown labels) have no gold label to score and are only counted."""
    counts = Counter(d["kind"] for d in dropped)
    out: dict[str, Any] = {"n_dropped": {"bad_record": n_bad_records, **dict(sorted(counts.items()))}}
    gold_dropped = [d["gold"] for d in dropped if d.get("gold") in labels]
    for mode in modes:
        gold = [r["gold"] for r in rows] + gold_dropped
        pred = [r[MODE_KEYS[mode]] for r in rows] + [None] * len(gold_dropped)
        out[mode] = headline(classification_metrics(gold, pred, labels)) if gold else None
    return out
