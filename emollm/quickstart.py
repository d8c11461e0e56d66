"""`emollm quickstart`: generate (or convert) data, train a small emotion MLLM, evaluate it, answer one chat query."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from emollm.config import load_config
from emollm.io import atomic_write_json

log = logging.getLogger("emollm.quickstart")
CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"
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
        from emollm.data.synthetic import SyntheticSpec, generate

        return generate(data_dir, SyntheticSpec(n_train=n_train, seed=seed, n_test=n_test, media=True))
    root = os.environ.get("EMOLLM_DATA_DIR")
    if not root:
        raise FileNotFoundError(
            "--data real needs EMOLLM_DATA_DIR pointing at a folder with meld/ (e.g. the shared "
            "corpora folder)"
        )
    from data_recipes.meld import convert

    manifest = convert(root, str(data_dir), limit=None, seed=seed)
    subsample_splits(data_dir, {"train": 640, "dev": 64, "test": n_test}, seed)
    manifest = {**manifest, "subsampled": {"train": 640, "dev": 64, "test": n_test, "seed": seed}}
    atomic_write_json(manifest_path, manifest)
    return manifest


def subsample_splits(data_dir: Path, sizes: dict[str, int], seed: int) -> None:
    """Keep a seeded, label-stratified subset of each split (so quickstart fits in minutes)."""
    import random
    from collections import defaultdict

    from emollm.io import write_jsonl

    for split, n in sizes.items():
        rows = [json.loads(line) for line in (data_dir / f"{split}.jsonl").read_text().splitlines()]
        by_label: dict[str, list] = defaultdict(list)
        for row in rows:
            by_label[row["labels"]["emotion"]].append(row)
        rng = random.Random(seed)
        keep = []
        for label in sorted(by_label):
            group = by_label[label]
            rng.shuffle(group)
            keep.extend(group[: max(1, round(n * len(group) / len(rows)))])
        write_jsonl(data_dir / f"{split}.jsonl", sorted(keep, key=lambda r: r["id"]))


def _ground_rationales(cfg: Any, split_file: Path) -> dict[str, Any]:
    """Replace a split's rationales with ones built from cues the encoders measured (cache hits after extract)."""
    from emollm.rationale import annotate_file

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
    from emollm.checkpoint import load_checkpoint
    from emollm.evaluate import evaluate, format_table, headline
    from emollm.extract import extract
    from emollm.generate import predict
    from emollm.train import train

    if data not in PRESETS:
        raise ValueError(f"--data must be one of {', '.join(PRESETS)}; got {data!r}")
    began = time.time()
    out = Path(out)
    data_dir = out / "data"
    manifest = prepare_data(data, data_dir, seed, n_test, n_train)
    cfg = load_config(
        config or CONFIGS_DIR / PRESETS[data],
        [
            f"data.train={data_dir / 'train.jsonl'}",
            f"data.test={data_dir / 'test.jsonl'}",
            f"data.cache_dir={out / 'cache'}",
            f"train.out_dir={out}",
            f"train.seed={seed}",
            *(overrides or []),
        ],
    )
    extracted, rationales = {}, {}
    if cfg.modalities:
        for split in ("train", "test"):
            summary = extract(cfg, data_dir / f"{split}.jsonl", cfg.data.cache_dir)
            extracted[split] = {m: v["clips_per_s"] for m, v in summary["modalities"].items()}
            rationales[split] = _ground_rationales(cfg, data_dir / f"{split}.jsonl")
    final = train(cfg, resume="auto")
    train_seconds = time.time() - began
    model = load_checkpoint(final)
    metrics = evaluate(model, cfg.data.test, out / "eval", batch_size=16, cache_dir=cfg.data.cache_dir)
    first = json.loads((data_dir / "test.jsonl").read_text().splitlines()[0])
    media = {m: str(data_dir / ref) for m, ref in first.get("media", {}).items()}
    answer = predict(model, text=first.get("text"), media=media)
    baselines = {}
    if cfg.modalities:
        from emollm.baselines import run_baselines

        fused = run_baselines(cfg, data_dir, out / "baselines", BASELINES)
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
    print(
        "\n"
        + format_table(
            {
                "llm (generate)": result["llm"],
                "llm (label scoring)": result["llm_label_scoring"],
                **{f"baseline {k}": v for k, v in baselines.items()},
            }
        )
    )
    print(
        f"\nexample {first['id']} (gold: {first['labels']['emotion']}), inputs: {', '.join(answer['modalities'])}"
    )
    print(f"  label: {answer['label']}   scores: {answer['scores']}")
    print(f"  answer: {answer['answer']}")
    print(f"\ncheckpoint: {final}\nmetrics:    {out / 'metrics.json'}\ntook {result['seconds']:.0f} s")
    return result
