"""The robustness report: a table of every condition with its drop relative to clean, curves per perturbation
family and bars for modality removal/subsets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emollm.report import Report, command_line, plot_bars, plot_curves, provenance_block


def write_robustness_report(out: Path, summary: dict[str, Any], checkpoint: str) -> Path:
    """Write OUT/report.md + report.html + plots from `robustness.json`'s summary."""
    rows = summary["conditions"]
    title = f"Robustness of {Path(checkpoint).name or 'model'} on {Path(summary['data']).name}"
    report = Report(f"{title} — GENERATED DATA" if summary.get("generated_data") else title)
    report.para(
        f"Metric mode: {summary['mode']}. Inputs: {', '.join(summary['inputs'])}. n = {summary['n']} samples."
    )
    report.heading("Every condition")
    table = []
    for r in rows:
        ci = r.get("uar_ci95")
        table.append([r["name"], r["family"], r.get("accuracy"), r.get("uar"),
                      f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "", r.get("macro_f1"), r.get("delta_uar"),
                      r.get("n"), r["skipped"]])  # fmt: skip
    report.table(
        ["condition", "family", "accuracy", "UAR", "UAR 95% CI", "macro-F1", "ΔUAR vs clean", "n", "skipped"],
        table,
    )
    clean = next(r for r in rows if r["name"] == "clean")
    subsets = {
        r["name"]: r["uar"]
        for r in rows
        if r["family"] in ("clean", "modality removed", "modality subset") and "uar" in r
    }
    if len(subsets) > 1:
        plot_bars({"UAR": subsets}, out / "modalities.png", "UAR with inputs removed", "UAR")
        report.heading("Missing modalities")
        report.image("modalities.png", "UAR for each set of available inputs")
    families: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if isinstance(r["level"], (int, float)) and r["family"] not in ("modality subset",) and "uar" in r:
            families.setdefault(r["family"], []).append((float(r["level"]), r["uar"]))
    if families:
        report.heading("Degraded signals")
        for i, (family, points) in enumerate(sorted(families.items())):
            path = f"curve_{i}.png"
            base = [(0.0, clean["uar"])] if "SNR" not in family else []
            plot_curves({"UAR": base + sorted(points), "clean": [(p[0], clean["uar"]) for p in base + sorted(points)]},
                        out / path, family, family, "UAR")  # fmt: skip
            report.image(path, f"UAR against {family} (clean = {clean['uar']:.3f})")
    provenance_block(report, {"checkpoint": checkpoint, "data": summary["data"], "command": command_line()})
    return report.write(out)
