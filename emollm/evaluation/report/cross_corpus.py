"""The cross-corpus report: one row per train -> test pair, one column per system (LLM modes and baselines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emollm.evaluation.report.page import Report, command_line, plot_matrix, provenance_block


def write_cross_report(out: Path, summary: dict[str, Any], spec: dict[str, Any]) -> Path:
    """Write OUT/report.md + report.html + a UAR heatmap."""
    pairs = summary["pairs"]
    systems = sorted({s for p in pairs for s in p["systems"]}, key=lambda s: (not s.startswith("llm"), s))
    generated = any("synthetic" in str(spec["sources"].get(p["pair"].split("->")[0], {}).get("recipe", "")) or
                    "synthetic" in str(spec["targets"].get(p["pair"].split("->")[1], {}).get("recipe", "")) for p in pairs)  # fmt: skip
    report = Report("Cross-corpus evaluation" + (" — includes GENERATED DATA" if generated else ""))
    report.para("Zero-shot rows test a model on a corpus it was never trained on; the target's gold labels are "
                "mapped into the model's label space by the named label map, and samples whose label has no "
                "counterpart are dropped and counted. In-corpus rows are the reference.")  # fmt: skip
    for metric in ("uar", "macro_f1", "accuracy"):
        report.heading(f"{metric} (95% bootstrap CI)")
        rows = []
        for p in pairs:
            cells = [p["pair"], p["kind"], p.get("label_map") or ""]
            for s in systems:
                m = p["systems"].get(s)
                ci = (m or {}).get("ci95", {}).get(metric)
                cells.append(
                    f"{m[metric]:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if m and ci else (m or {}).get(metric)
                )
            sizes = sorted({v["n"] for v in p["systems"].values()})
            rows.append(cells + [" / ".join(map(str, sizes)) or "0"])
        report.table(
            ["train -> test", "kind", "label map", *systems, "n (differs when a system had no input)"], rows
        )
    grid = [[p["systems"].get(s, {}).get("uar") for s in systems] for p in pairs]
    plot_matrix(grid, [p["pair"] for p in pairs], systems, out / "uar_matrix.png", "UAR")
    report.image("uar_matrix.png", "UAR per train -> test pair and system")
    _comparison_table(report, pairs)
    notes = [[p["pair"], p["note"]] for p in pairs if p.get("note")]
    if notes:
        report.heading("Notes on pairs")
        report.table(["pair", "note"], notes)
    dropped = [[p["pair"], p.get("label_map_counts")] for p in pairs if p.get("label_map_counts")]
    if dropped:
        report.heading("Samples dropped by label maps")
        report.table(["pair", "dropped per source label"], dropped)
    provenance_block(report, {"spec": summary["spec"], "modes": ", ".join(summary["modes"]),
                              **{f"checkpoint {p['pair']}": p.get("checkpoint", "") for p in pairs},
                              "command": command_line()})  # fmt: skip
    return report.write(out)


def _comparison_table(report: Report, pairs: list[dict[str, Any]]) -> None:
    """The LLM against each baseline on the samples both scored: paired bootstrap UAR difference and McNemar."""
    rows = []
    for p in pairs:
        for c in p.get("comparisons", []):
            d = c["delta_uar"]
            rows.append([p["pair"], f"{c['a']} - {c['b']}", c["n"], f"{d['delta']:+.3f}",
                         f"[{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]", f"{d['p_value']:.3f}",
                         f"{c['mcnemar']['only_a_correct']} / {c['mcnemar']['only_b_correct']}",
                         f"{c['mcnemar']['p_value']:.4f}"])  # fmt: skip
    if rows:
        report.heading("LLM vs baselines on the same samples (paired)")
        report.table(["pair", "difference", "n shared", "ΔUAR", "95% CI (paired bootstrap)", "P(LLM not better)",
                      "only LLM / only baseline right", "McNemar p (accuracy)"], rows)  # fmt: skip
