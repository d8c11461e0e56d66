"""`emollm cross-corpus --spec eval/cross_corpus.yaml --out OUT`: a train -> test matrix over corpora, zero-shot
(a model never trained on the target, gold labels mapped into its label space by a versioned label map) and
in-corpus for reference, for the LLM and each fusion baseline, in one report.

Spec (YAML; `${VAR}` expands from the environment; relative paths are relative to the working directory):

    sources:                      # corpora models are trained on
      NAME: {recipe: meld, root: ${EMOLLM_DATA_DIR}}      # converted into OUT/data/NAME once; or data: DIR
        config: configs/quickstart_meld.yaml              # LLM training preset (or checkpoint: DIR to reuse one)
        overrides: [train.max_steps=60]
        subsample: {train: 640, dev: 64}                  # optional seeded, label-stratified subset
        baselines: [unimodal-text]                        # fusion baselines on the same features
        baseline: {text_encoder: sentence-transformers/all-MiniLM-L6-v2}
    targets:                      # test sets
      NAME: {recipe: emorynlp, root: ..., split: dev, limit: 500}   # or data: DIR
    pairs:
      - {source: meld, target: emorynlp, label_map: emorynlp_to_meld}
      - {source: meld, target: meld}                      # in-corpus reference (no map)
      - {source: meld, target: emorynlp, label_map: emorynlp_to_meld, note: "shown in the report"}
    modes: [score, generate]

Every stage is resumable: converted data, trained models and finished evaluations are reused on a rerun (delete
OUT/eval/PAIR/SYSTEM to score one again).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from emollm.baselines import run_baselines
from emollm.baselines.saved import evaluate_baseline
from emollm.config import BaselineConfig, from_dict, load_config, to_dict
from emollm.data.recipes import recipe, recipe_names
from emollm.data.splits import subsample_splits
from emollm.evaluation.compare import compare_predictions
from emollm.evaluation.metrics import headline
from emollm.evaluation.report.cross_corpus import write_cross_report
from emollm.experiments.result_steps import evaluated
from emollm.io import atomic_write_json
from emollm.train import train

log = logging.getLogger("emollm.experiments.cross_corpus")


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read and check a cross-corpus spec; errors name the key."""
    text = os.path.expandvars(Path(path).read_text(encoding="utf-8"))
    spec = yaml.safe_load(text) or {}
    for key in ("sources", "targets", "pairs"):
        if not spec.get(key):
            raise ValueError(f"{path}: cross-corpus spec needs a non-empty {key!r}")
    for i, pair in enumerate(spec["pairs"]):
        if pair.get("source") not in spec["sources"] or pair.get("target") not in spec["targets"]:
            raise ValueError(f"{path}: pairs[{i}] names an unknown source or target ({pair})")
        if pair["source"] != pair["target"] and not pair.get("label_map") and not pair.get("same_labels"):
            raise ValueError(f"{path}: pairs[{i}] ({pair['source']} -> {pair['target']}) needs a label_map "
                             "(or same_labels: true when both corpora share one label set)")  # fmt: skip
    return spec


def _data_dir(name: str, entry: dict[str, Any], out: Path, seed: int) -> Path:
    """The folder holding the corpus's split files (converted with its recipe once when needed)."""
    if entry.get("data"):
        return Path(entry["data"])
    folder = out / "data" / name
    if not (folder / "manifest.json").is_file():
        if entry.get("recipe") not in recipe_names():
            raise ValueError(f"corpus {name}: give data: DIR or a recipe from {recipe_names()}")
        recipe(entry["recipe"])(
            root=entry.get("root"), out=str(folder), seed=seed, **entry.get("options", {})
        )
        if entry.get("subsample"):
            subsample_splits(folder, entry["subsample"], seed)
    return folder


def _train_source(name: str, entry: dict[str, Any], data: Path, out: Path) -> tuple[str | None, Path | None]:
    """The source's LLM checkpoint (trained when no `checkpoint` is given) and its baselines folder."""
    ckpt = entry.get("checkpoint")
    cfg = load_config(entry.get("config"), [f"data.train={data / 'train.jsonl'}", f"data.test={data / 'test.jsonl'}",
                                            f"data.cache_dir={out / 'cache'}", f"train.out_dir={out / 'models' / name / 'llm'}",
                                            *entry.get("overrides", [])])  # fmt: skip
    if (data / "dev.jsonl").is_file():
        cfg.data.dev = str(data / "dev.jsonl")
    if not ckpt and entry.get("config") is not None:
        final = out / "models" / name / "llm" / "final"
        ckpt = str(final if (final / "meta.json").is_file() else train(cfg, resume="auto"))
    fusions = tuple(entry.get("baselines", []))
    base_dir = out / "models" / name / "baselines"
    if fusions and not all((base_dir / f / "model.safetensors").is_file() for f in fusions):
        bc = from_dict(BaselineConfig, {**to_dict(cfg.baseline), **entry.get("baseline", {})}, "baseline")
        run_baselines(cfg, data, base_dir, fusions, bc, out / "cache")
    return ckpt, (base_dir if fusions else None)


def run_cross_corpus(
    spec_path: str | Path, out: str | Path, seed: int = 0, limit: int | None = None
) -> dict[str, Any]:
    """Run every pair of the spec; write OUT/cross_corpus.json and OUT/report.{md,html}."""

    spec, out = load_spec(spec_path), Path(out)
    modes = tuple(spec.get("modes", ["score", "generate"]))
    data = {n: _data_dir(n, e, out, seed) for n, e in {**spec["targets"], **spec["sources"]}.items()}
    trained = {n: _train_source(n, e, data[n], out) for n, e in spec["sources"].items()
               if any(p["source"] == n for p in spec["pairs"])}  # fmt: skip
    results = []
    for pair in spec["pairs"]:
        src, tgt = pair["source"], pair["target"]
        target = spec["targets"][tgt]
        split_file = data[tgt] / f"{target.get('split', 'test')}.jsonl"
        n = target.get("limit") or limit
        tag = f"{src}->{tgt}"
        row: dict[str, Any] = {"pair": tag, "kind": "in-corpus" if src == tgt else "zero-shot",
                               "label_map": pair.get("label_map"), "test": str(split_file), "systems": {},
                               "note": pair.get("note")}  # fmt: skip
        ckpt, base_dir = trained[src]
        lmap = pair.get("label_map")
        llm_dir = None
        if ckpt:
            where = llm_dir = out / "eval" / tag.replace(">", "") / "llm"
            # a finished evaluation is reused only under the same prior adjustment and inference precision
            m = evaluated(ckpt, split_file, where, modes, limit=n, cache_dir=out / "cache", label_map=lmap)
            for mode in modes:
                row["systems"][f"llm ({mode})"] = _brief(m[mode])
            row["checkpoint"] = str(ckpt)
            row["label_map_counts"] = (m.get("label_map") or {}).get("dropped")
        for fusion in spec["sources"][src].get("baselines", []):
            where = out / "eval" / tag.replace(">", "") / fusion
            m = _finished(where, ("score",)) or evaluate_baseline(
                base_dir / fusion, split_file, where, out / "cache", lmap
            )
            row["systems"][f"baseline {fusion}"] = _brief(m["score"])
            row["label_map_counts"] = (m.get("label_map") or {}).get("dropped")
            if llm_dir is not None:
                mode = "score" if "score" in modes else modes[0]
                row.setdefault("comparisons", []).append(
                    compare_predictions(llm_dir, where, mode, (f"llm ({mode})", f"baseline {fusion}"))
                )
        results.append(row)
        log.info("%s: %s", tag, {k: round(v["uar"], 3) for k, v in row["systems"].items()})
    summary = {"spec": str(spec_path), "modes": list(modes), "pairs": results}
    atomic_write_json(out / "cross_corpus.json", summary)

    write_cross_report(out, summary, spec)
    return summary


def _finished(folder: Path, modes: tuple[str, ...]) -> dict[str, Any] | None:
    """The metrics of an evaluation that already finished in `folder` (with every wanted mode), else None."""
    path = folder / "metrics.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    return metrics if all(m in metrics for m in modes) else None


def _brief(m: dict[str, Any]) -> dict[str, Any]:

    latency = {"seconds_per_sample": m["seconds_per_sample"]} if "seconds_per_sample" in m else {}
    return {**headline(m), **latency, "ci95": m.get("ci95", {})}
