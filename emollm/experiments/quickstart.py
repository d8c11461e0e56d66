"""`emollm quickstart`: generate (or convert) data, train a small emotion MLLM, evaluate it, answer one chat query."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from emollm.baselines import run_baselines
from emollm.checkpoint import load_checkpoint
from emollm.config import RunConfig, load_config
from emollm.data.recipes import recipe
from emollm.data.splits import subsample_splits
from emollm.data.synthetic import SyntheticSpec, generate
from emollm.evaluation.evaluate import evaluate
from emollm.evaluation.metrics import format_table, headline
from emollm.extract import extract
from emollm.generate import predict
from emollm.io import atomic_write_json
from emollm.rationale import annotate_file
from emollm.resources import resource_dir
from emollm.train import train

log = logging.getLogger("emollm.experiments.quickstart")
PRESETS = {"synthetic": "quickstart.yaml", "real": "quickstart_meld.yaml"}
BASELINES = (
    "unimodal-video",
    "unimodal-audio",
    "unimodal-sensor",
    "early",
    "late",
    "hybrid-attention",
    "hybrid-gated",
)


def prepare_data(kind: str, data_dir: Path, seed: int, n_test: int, n_train: int = 480) -> dict[str, Any]:
    """Generate the tri-modal corpus, or convert MELD from $EMOLLM_DATA_DIR, into `data_dir` (once)."""
    manifest_path = data_dir / "manifest.json"
    if manifest_path.is_file():
        return json.loads(manifest_path.read_text())
    if kind == "synthetic":
        return generate(data_dir, SyntheticSpec(n_train=n_train, seed=seed, n_test=n_test, media=True))
    root = os.environ.get("EMOLLM_DATA_DIR")
    if not root:
        raise FileNotFoundError(
            "--data real needs EMOLLM_DATA_DIR pointing at a folder with meld/ (e.g. the shared "
            "corpora folder)"
        )
    manifest = recipe("meld")(root, str(data_dir), limit=None, seed=seed)
    subsample_splits(data_dir, {"train": 640, "dev": 64, "test": n_test}, seed)
    manifest = {**manifest, "subsampled": {"train": 640, "dev": 64, "test": n_test, "seed": seed}}
    atomic_write_json(manifest_path, manifest)
    return manifest


def _ground_rationales(cfg: RunConfig, split_file: Path) -> dict[str, Any]:
    """Replace a split's rationales with ones built from cues the encoders measured (cache hits after extract)."""
    stamp = split_file.with_suffix(".rationales.json")
    if stamp.is_file():
        return json.loads(stamp.read_text())
    summary = annotate_file(cfg, split_file, split_file, cfg.data.cache_dir)
    result = {
        "annotated": summary["annotated"],
        "ungrounded": summary["ungrounded"],
        "bad": len(summary["bad"]),
    }
    atomic_write_json(stamp, result)
    return result


def features_and_rationales(cfg: RunConfig, data_dir: Path) -> tuple[dict, dict]:
    """Fill the feature cache for train and test, then replace their rationales with measured ones."""
    extracted, rationales = {}, {}
    for split in ("train", "test") if cfg.modalities else ():
        summary = extract(cfg, data_dir / f"{split}.jsonl", cfg.data.cache_dir)
        extracted[split] = {m: v["clips_per_s"] for m, v in summary["modalities"].items()}
        rationales[split] = _ground_rationales(cfg, data_dir / f"{split}.jsonl")
    return extracted, rationales


def _print_summary(result: dict[str, Any], out: Path) -> None:
    """The headline table, the example answer and where everything went."""
    table = {"llm (generate)": result["llm"], "llm (label scoring)": result["llm_label_scoring"],
             **{f"baseline {k}": v for k, v in result["baselines"].items()}}  # fmt: skip
    print("\n" + format_table(table))
    ex = result["example"]
    print(f"\nexample {ex['id']} (gold: {ex['gold']}), inputs: {', '.join(ex['modalities'])}")
    print(f"  label: {ex['label']}   scores: {ex['scores']}")
    print(f"  answer: {ex['answer']}")
    print(
        f"\ncheckpoint: {result['checkpoint']}\nmetrics:    {out / 'metrics.json'}\ntook {result['seconds']:.0f} s"
    )


def quickstart(
    out: str | Path = "runs/quickstart",
    data: str = "synthetic",
    config: str | None = None,
    overrides: list[str] | None = None,
    n_test: int = 128,
    seed: int = 0,
    n_train: int = 480,
) -> dict[str, Any]:
    """Run the whole pipeline; write OUT/final (checkpoint) and OUT/metrics.json; return the metrics."""
    if data not in PRESETS:
        raise ValueError(f"--data must be one of {', '.join(PRESETS)}; got {data!r}")
    began = time.time()
    out = Path(out)
    data_dir = out / "data"
    manifest = prepare_data(data, data_dir, seed, n_test, n_train)
    paths = [f"data.train={data_dir / 'train.jsonl'}", f"data.test={data_dir / 'test.jsonl'}",
             f"data.cache_dir={out / 'cache'}", f"train.out_dir={out}", f"train.seed={seed}"]  # fmt: skip
    cfg = load_config(config or resource_dir("configs") / PRESETS[data], [*paths, *(overrides or [])])
    extracted, rationales = features_and_rationales(cfg, data_dir)
    final = train(cfg, resume="auto")
    train_seconds = time.time() - began
    model = load_checkpoint(final, merge=True, precision="auto")
    metrics = evaluate(model, cfg.data.test, out / "eval", batch_size=16, cache_dir=cfg.data.cache_dir)
    first = json.loads((data_dir / "test.jsonl").read_text().splitlines()[0])
    media = {m: str(data_dir / ref) for m, ref in first.get("media", {}).items()}
    answer = predict(model, text=first.get("text"), media=media)
    fused = run_baselines(cfg, data_dir, out / "baselines", BASELINES) if cfg.modalities else {}
    baselines = {
        name: {**headline(m["score"]), "train_seconds": m["train_seconds"]} for name, m in fused.items()
    }
    result = {
        "llm": {**headline(metrics["generate"]), "mode": "generate (parsed; unparsed counted wrong)"},
        "llm_label_scoring": headline(metrics["score"]),
        "baselines": baselines,
        "data": {
            "kind": data,
            "dir": str(data_dir),
            "generated": data == "synthetic",
            "splits": manifest["splits"],
        },
        "checkpoint": str(final),
        "example": {"id": first["id"], "gold": first["labels"]["emotion"], **answer},
        "seconds": round(time.time() - began, 1),
        "train_seconds": round(train_seconds, 1),
        "extract_clips_per_s": extracted,
        "rationales": rationales,
    }
    atomic_write_json(out / "metrics.json", result)
    _print_summary(result, out)
    return result
