"""The robustness report: a table of every condition with each system's metric and its drop relative to clean,
curves per perturbation family and bars for modality removal/subsets (one series per system)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emollm.evaluation.report.page import Report, command_line, plot_bars, plot_curves, provenance_block

REMOVAL = ("clean", "modality removed", "modality subset")


def write_robustness_report(out: Path, summary: dict[str, Any]) -> Path:
    """Write OUT/report.md + report.html + plots from `robustness.json`'s summary."""
    systems: dict[str, Any] = summary["systems"]
    title = f"Robustness of {', '.join(systems)} on {Path(summary['data']).name}"
    report = Report(f"{title} — GENERATED DATA" if summary.get("generated_data") else title)
    report.para(
        f"Inputs in the data: {', '.join(summary['inputs'])}; n = {summary['n']} samples. "
        + " ".join(
            f"{name} reads {', '.join(s['inputs'])} (metric mode: {s['mode']})."
            for name, s in systems.items()
        )
        + " A condition that changes no input of a system is not evaluated for it (—)."
    )
    if len(systems) > 1:
        _comparison_table(report, systems)
    for name, system in systems.items():
        report.heading(f"Every condition: {name}")
        _condition_table(report, system["conditions"])
    _removal_plot(report, out, systems)
    _curve_plots(report, out, systems)
    info = {f"checkpoint ({name})": s["checkpoint"] for name, s in systems.items()}
    provenance_block(report, {**info, "data": summary["data"], "command": command_line()})
    return report.write(out)


def _by_name(system: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in system["conditions"]}


def uar_grid(systems: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(condition, family, one cell per system) rows: UAR and its change vs that system's clean UAR ("*" when the
    paired 95% interval of the change excludes 0), "no input" when nothing was left to score, "—" when not run."""
    rows = {name: _by_name(s) for name, s in systems.items()}
    order: list[tuple[str, str]] = []
    for s in systems.values():
        order += [(r["name"], r["family"]) for r in s["conditions"] if (r["name"], r["family"]) not in order]
    grid = []
    for cond, family in order:
        cells = []
        for name in systems:
            r = rows[name].get(cond)
            if r is None:
                cells.append("—")
            elif "uar" not in r:
                cells.append(f"no input ({r['skipped']} skipped)")
            else:
                mark = "*" if r.get("delta_uar_significant") else ""
                cells.append(
                    f"{r['uar']:.3f}" + ("" if cond == "clean" else f" ({r['delta_uar']:+.3f}{mark})")
                )
        grid.append((cond, family, cells))
    return grid


def _comparison_table(report: Report, systems: dict[str, Any]) -> None:
    """UAR (and its drop vs that system's clean UAR) per condition, one column per system."""
    report.heading("UAR per condition (Δ vs each system's clean)")
    report.para(
        "* the paired-bootstrap 95% interval of the change excludes 0 (same samples, clean vs condition)."
    )
    report.table(["condition", "family", *systems], [[c, f, *cells] for c, f, cells in uar_grid(systems)])


def _condition_table(report: Report, rows: list[dict[str, Any]]) -> None:
    table = []
    for r in rows:
        ci, dci = r.get("uar_ci95"), r.get("delta_uar_ci95")
        table.append([r["name"], r["family"], r.get("accuracy"), r.get("uar"),
                      f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "", r.get("macro_f1"), r.get("delta_uar"),
                      f"[{dci[0]:+.3f}, {dci[1]:+.3f}]" if dci else "", r.get("n"), r["skipped"]])  # fmt: skip
    report.table(
        ["condition", "family", "accuracy", "UAR", "UAR 95% CI", "macro-F1", "ΔUAR vs clean",
         "ΔUAR 95% CI (paired)", "n", "skipped"],
        table,
    )  # fmt: skip


def _removal_plot(report: Report, out: Path, systems: dict[str, Any]) -> None:
    groups = {
        name: {r["name"]: r["uar"] for r in s["conditions"] if r["family"] in REMOVAL and "uar" in r}
        for name, s in systems.items()
    }
    names = sorted({c for g in groups.values() for c in g}, key=lambda c: (c != "clean", c))
    if len(names) > 1:
        plot_bars({k: {c: g.get(c, 0.0) for c in names} for k, g in groups.items()}, out / "modalities.png",
                  "UAR with inputs removed", "UAR")  # fmt: skip
        report.heading("Missing modalities")
        report.image("modalities.png", "UAR for each set of available inputs (a missing bar: not evaluated)")


def _curve_plots(report: Report, out: Path, systems: dict[str, Any]) -> None:
    """One figure per perturbation family: UAR against the level, one line per system, clean at level 0."""
    families: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for name, s in systems.items():
        clean = _by_name(s)["clean"].get("uar")
        for r in s["conditions"]:
            if isinstance(r["level"], (int, float)) and r["family"] not in REMOVAL and "uar" in r:
                curve = families.setdefault(r["family"], {}).setdefault(name, [])
                if not curve and clean is not None and "SNR" not in r["family"]:
                    curve.append((0.0, clean))
                curve.append((float(r["level"]), r["uar"]))
    if not families:
        return
    report.heading("Degraded signals")
    for i, (family, curves) in enumerate(sorted(families.items())):
        path = f"curve_{i}.png"
        plot_curves({k: sorted(v) for k, v in curves.items()}, out / path, family, family, "UAR")
        cleans = ", ".join(
            f"{k} {_by_name(systems[k])['clean'].get('uar', float('nan')):.3f}" for k in curves
        )
        report.image(path, f"UAR against {family} (clean: {cleans})")
