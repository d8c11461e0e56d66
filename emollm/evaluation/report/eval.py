"""The report of one evaluation (LLM checkpoint or fusion baseline): headline table with 95% CIs, per-class table,
latency, calibration, rationale grounding, label map, plots and provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emollm.evaluation.report.page import (
    Report,
    command_line,
    plot_bars,
    plot_confusion,
    plot_reliability,
    provenance_block,
)

MODE_NAMES = {"generate": "free generation (parsed; unparsed = wrong)", "score": "label scoring"}
HEADLINE = ("accuracy", "uar", "macro_f1", "weighted_f1", "unparsed_rate", "n")


def _short(path: Any) -> str:
    """The last two parts of a path (e.g. `meld/test.jsonl`, `llm/final`)."""
    return "/".join(Path(str(path)).parts[-2:])


def title_for(what: str, metrics: dict[str, Any]) -> str:
    """A report title that says when the data were generated."""
    return f"{what} — GENERATED DATA" if metrics.get("generated_data") else what


def headline_rows(metrics: dict[str, Any], modes: list[str]) -> list[list[Any]]:
    """One row per mode: each headline metric with its 95% bootstrap interval."""
    rows = []
    for mode in modes:
        m, ci = metrics[mode], metrics[mode].get("ci95", {})
        cells = [MODE_NAMES.get(mode, mode)]
        for key in HEADLINE:
            value = m[key]
            if key in ci:
                lo, hi = ci[key]
                cells.append(f"{value:.4f} [{lo:.3f}, {hi:.3f}]")
            else:
                cells.append(value)
        cells.append(f"{1000 * m['seconds_per_sample']:.1f} ms" if "seconds_per_sample" in m else "")
        rows.append(cells)
    return rows


def write_eval_report(
    out: str | Path, metrics: dict[str, Any], labels: tuple[str, ...], info: dict[str, Any]
) -> Path:
    """Write OUT/report.md + report.html + PNG plots for one evaluation's metrics.json."""
    out = Path(out)
    modes = [m for m in ("generate", "score") if m in metrics]
    what = info.get("checkpoint") or metrics.get("checkpoint") or "model"
    data = (metrics.get("label_map") or {}).get("source_data") or metrics["data"]
    report = Report(title_for(f"Evaluation of {_short(what)} on {_short(data)}", metrics))
    report.heading("Headline (95% bootstrap CI)")
    report.table(["mode", *HEADLINE, "latency / sample"], headline_rows(metrics, modes))
    mapping = metrics.get("label_map")
    if mapping:
        report.para(
            f"Gold labels mapped with {mapping['name']} v{mapping['version']} ({mapping['source']} -> "
            f"{mapping['target']}); kept {mapping['kept']}, dropped {sum(mapping['dropped'].values())} "
            f"({mapping['dropped']}); unmapped labels are {mapping['unmapped']}ped."
        )
    _not_scored(report, metrics, modes)
    if metrics.get("ignored_modalities"):
        report.para(
            f"Inputs the model has no encoder for were left out: {metrics['ignored_modalities']} (samples)."
        )
    report.heading("Per class")
    header = ["label"] + [f"{m} {k}" for m in modes for k in ("precision", "recall", "f1")] + ["support"]
    rows = []
    for label in labels:
        cells = [label] + [
            metrics[m]["per_class"][label][k] for m in modes for k in ("precision", "recall", "f1")
        ]
        rows.append(cells + [metrics[modes[0]]["per_class"][label]["support"]])
    report.table(header, rows)
    plot_bars({m: {lab: metrics[m]["per_class"][lab]["f1"] for lab in labels} for m in modes},
              out / "per_class_f1.png", "per-class F1", "F1")  # fmt: skip
    report.image("per_class_f1.png", "per-class F1 per mode")
    for mode in modes:
        plot_confusion(
            metrics[mode]["confusion"]["matrix"],
            list(labels),
            out / f"confusion_{mode}.png",
            MODE_NAMES[mode],
        )
        report.image(f"confusion_{mode}.png", f"confusion matrix, {MODE_NAMES[mode]} (rows: gold)")
    if "calibration" in metrics.get("score", {}):
        plot_reliability(metrics["score"]["calibration"], out / "reliability.png", "label scores")
        report.heading("Calibration of label scores")
        report.para(f"Expected calibration error (10 bins): {metrics['score']['ece']:.4f}.")
        report.image("reliability.png", "reliability diagram of the top label score")
    _grounding(report, metrics)
    provenance_block(report, {**info, "data": metrics["data"], "bad records": metrics.get("n_bad_records", 0),
                              "bad media": metrics.get("n_bad_media", 0), "command": command_line()})  # fmt: skip
    return report.write(out)


def _not_scored(report: Report, metrics: dict[str, Any], modes: list[str]) -> None:
    """The samples that could not be scored, per reason, and the metrics counting them wrong."""
    dropped = {k: v for k, v in (metrics.get("n_dropped") or {}).items() if v}
    if dropped:
        report.heading("Not scored")
        report.para(f"Samples that could not be scored, per reason: {dropped} (listed in bad_samples.json). "
                    "Counting every one with a readable gold label as wrong:")  # fmt: skip
        rows = [
            [m, *[metrics[m]["all_samples"][k] for k in HEADLINE]]
            for m in modes
            if metrics[m].get("all_samples")
        ]
        report.table(["mode (all samples)", *HEADLINE], rows)


def _grounding(report: Report, metrics: dict[str, Any]) -> None:
    """How many generated rationales state only measured cues, at both tolerances."""
    if "rationale_grounded_rate" in metrics.get("generate", {}):
        g = metrics["generate"]
        report.heading("Rationale grounding")
        report.para(
            f"Of {g['rationale_checked']} generated rationales, {g['rationale_grounded_rate']:.1%} state only cues "
            f"that match the measured ones exactly ({g['rationale_claim_accuracy']:.1%} of claims), and "
            f"{g['rationale_level_grounded_rate']:.1%} agree at the level of expression and high/typical/low "
            f"({g['rationale_level_claim_accuracy']:.1%} of claims; emollm.rationale.grounding)."
        )
