"""`emollm results`: every headline result of the project from one command (`make results`), each cell with its 95%
CI and the LLM against its baselines by a paired test on the same samples.

Tasks (`--only` picks some; each resumes what it finished):
- `meld`: MELD text, 7 classes, the full official train split for one epoch (up to 3 earlier dialogue turns in the
  prompt), checkpoint chosen on 300 stratified dev utterances, its label-prior adjustment fitted on the whole dev
  split (`emollm.prior_adjustment`, `emollm.evaluation.prior_fit`), the full 2,610-utterance test split; TF-IDF + logistic regression and MiniLM + MLP
  baselines (plain, class-weighted, prior-adjusted the same way).
- `emorynlp`: the MELD model zero-shot on EmoryNLP dev through `emorynlp_to_meld`, also on the dev utterances not found
  verbatim in MELD; TF-IDF + logistic regression trained in-corpus on EmoryNLP train in the same label space.
- `floor`: the untuned SmolLM2-135M-Instruct on MELD test (500) and EmoryNLP dev (300), both modes.
- `emodb`: EmoDB audio, leave-2-speakers-out (5 folds), Whisper tiny.en frames; the Whisper MLP baseline, same folds.
- `generated`: the quickstart's GENERATED tri-modal corpus trained to convergence, the fusion family, modality removal.
Writes OUT/summary.json (`{task: {system: metrics}}`) and OUT/report.md; with `--publish DIR` copies both there (a
fresh OUT starts from DIR/summary.json, so `--only` replaces the tasks it runs and keeps the others).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from emollm.evaluation.report.page import Report, plot_bars
from emollm.experiments import result_tasks as tasks
from emollm.io import atomic_write_json

log = logging.getLogger("emollm.experiments.results")
TASKS = ("meld", "emorynlp", "floor", "emodb", "generated")
HEADLINE = ("weighted_f1", "uar", "macro_f1", "accuracy", "n")


def run_task(name: str, root: str, out: Path) -> dict[str, Any]:
    """One task's {system: metrics}."""
    if name == "meld":
        return tasks.meld(root, out)
    if name == "emorynlp":
        selected = json.loads((out / "meld" / "dev-select" / "selection.json").read_text())["selected"]
        return tasks.emorynlp(root, out, out / "meld" / "llm" / selected)
    if name == "floor":
        return tasks.floor(root, out)
    if name == "emodb":
        return tasks.emodb(root, out)
    return tasks.generated(out)


def run_results(
    out: str | Path, only: list[str] | None = None, publish: str | Path | None = None
) -> dict[str, Any]:
    """Run the chosen tasks (all by default; `emorynlp` needs `meld`), update OUT/summary.json and OUT/report.md."""
    out = Path(out)
    root = os.environ.get("EMOLLM_DATA_DIR", "")
    unknown = set(only or []) - set(TASKS)
    if unknown:
        raise ValueError(f"unknown results task {sorted(unknown)}; valid: {', '.join(TASKS)}")
    if not root and set(only or TASKS) - {"generated"}:
        raise FileNotFoundError(
            "emollm results needs EMOLLM_DATA_DIR (a folder with meld/, emorynlp/, emodb/)"
        )
    path = out / "summary.json"
    published = Path(publish) / "summary.json" if publish else None
    if path.is_file():
        summary = json.loads(path.read_text())
    elif published is not None and published.is_file():
        # a fresh OUT: the tasks not re-run keep their published results
        summary = json.loads(published.read_text())
        log.info("results: starting from %s (tasks not re-run keep these figures)", published)
    else:
        summary = {}
    for name in [t for t in TASKS if t in (only or TASKS)]:
        began = time.time()
        log.info("results: %s", name)
        summary[name] = {**run_task(name, root, out), "task_seconds": round(time.time() - began, 1)}
        atomic_write_json(path, summary)
    write_report(out, summary)
    if publish:
        Path(publish).mkdir(parents=True, exist_ok=True)
        for file in ("summary.json", "report.md", "report.html", *(f"{t}.png" for t in summary)):
            if (out / file).is_file():
                shutil.copy(out / file, Path(publish) / file)
    return summary


def _cell(m: dict[str, Any], key: str) -> str:
    value = m.get(key)
    if not isinstance(value, float):
        return "" if value is None else str(value)
    ci = (m.get("ci95") or {}).get(key)
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _rationale_line(name: str, m: dict[str, Any]) -> str:
    """One sentence on a system's generated rationales, read back against the cues of each sample's inputs."""
    line = (f"{name} rationales ({m['rationale_checked']} generated): {m['rationale_absent_rate']:.3f} cite an absent "
            f"input; claim accuracy {m['rationale_claim_accuracy']:.3f} exact, {m['rationale_level_claim_accuracy']:.3f} "
            "at level tolerance")  # fmt: skip
    if m.get("protocol"):
        line += f" ({m['protocol']})"
    return line + "."


def write_report(out: Path, summary: dict[str, Any]) -> Path:
    """OUT/report.md: one table per task (label scoring; the LLM's generation row too) and the paired tests."""
    report = Report("emollm results: the LLM next to its baselines (95% bootstrap CIs)")
    for task, systems in summary.items():
        report.heading(task)
        rows = []
        for name, m in systems.items():
            if not isinstance(m, dict) or "uar" not in m and "score" not in m:
                continue
            for label, metrics in ((name, m.get("score", m)), (f"{name} (generation)", m.get("generate")),
                                   (f"{name} (before the prior adjustment)", m.get("unadjusted"))):  # fmt: skip
                if isinstance(metrics, dict) and "uar" in metrics:
                    rows.append([label, *[_cell(metrics, k) for k in HEADLINE]])
        report.table(["system", *HEADLINE], rows)
        pairs = [(key.removeprefix("paired_vs_"), base, c) for key, v in systems.items()
                 if key.startswith("paired_vs_") for base, c in (v or {}).items()]  # fmt: skip
        for llm, base, c in pairs:
            d, w = c["delta_uar"], c["delta_weighted_f1"]
            name = "LLM" if llm == "llm" else llm
            report.para(f"{name} - {base} on the same {c['n']} samples: UAR {d['delta']:+.3f} [{d['ci95'][0]:+.3f}, "
                        f"{d['ci95'][1]:+.3f}], weighted-F1 {w['delta']:+.3f} [{w['ci95'][0]:+.3f}, {w['ci95'][1]:+.3f}]; "
                        f"McNemar p = {c['mcnemar']['p_value']:.4f}.")  # fmt: skip
        for name, m in ((n, m) for n, m in systems.items() if isinstance(m, dict)):
            for label, figures in (
                (name, m),
                (f"{name} on text-only queries", m.get("text_only_queries", {})),
            ):
                if "rationale_absent_rate" in figures:
                    report.para(_rationale_line(label, figures))
        for name, m in (
            (n, m) for n, m in systems.items() if isinstance(m, dict) and m.get("prior_adjustment")
        ):
            adj = m["prior_adjustment"]
            report.para(f"{name}: label scores adjusted by the training label prior (log p - tau log prior), tau "
                        f"{adj['tau']:g} fitted for {adj['metric']} on `{adj['fitted_on']}`"
                        f"{'; ' + adj['selection'] if adj.get('selection') else ''}.")  # fmt: skip
        for name, m in ((n, m) for n, m in systems.items() if isinstance(m, dict) and m.get("fold_uar")):
            folds = ", ".join(f"{fold} {uar:.3f}" for fold, uar in m["fold_uar"].items())
            report.para(f"{name}, UAR per held-out fold: {folds}.")
        if systems.get("note"):
            report.para(str(systems["note"]))
        uar = {name: m.get("score", m)["uar"] for name, m in systems.items() if isinstance(m, dict)
               and isinstance(m.get("score", m), dict) and "uar" in m.get("score", m)}  # fmt: skip
        if uar:
            plot_bars({"UAR": uar}, out / f"{task}.png", f"{task}: UAR (label scoring)", "UAR")
            report.image(f"{task}.png", f"{task}: UAR per system")
    return report.write(out)
