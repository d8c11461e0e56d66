"""`emollm baseline --fusion NAME ... | --all --config YAML --data DIR --out OUT [baseline.KEY=VALUE ...]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from emollm.cli.common import add_config_arguments

HELP = "Train fusion baselines on DIR/{train,dev,test}.jsonl with the config's encoders and cached features."
# Convenience flags that set fields of the config's `baseline` section (baseline.KEY=VALUE works for every field).
FLAGS = {"seed": "seed", "per_speaker_norm": "per_speaker_norm", "class_weights": "class_weights",
         "modality_dropout": "modality_dropout", "text_encoder": "text_encoder", "task": "task"}  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm baseline`."""
    p.add_argument("--fusion", action="append", help="unimodal-<m>, linear-<m>, early, late[-vote|-learned|-gate], "
                   "hybrid-attention, hybrid-gated, mult, tfn, lmf (repeatable)")  # fmt: skip
    p.add_argument("--all", action="store_true", help="run the whole family and write one comparison table")
    p.add_argument("--data", required=True,
                   help="folder with train.jsonl, dev.jsonl (optional), test.jsonl; with --loso one JSONL file")  # fmt: skip
    p.add_argument(
        "--loso", action="store_true", help="leave-one-speaker-out folds over --data (a JSONL file)"
    )
    p.add_argument("--out", required=True)
    p.add_argument("--cache", help="feature cache root (default: data.cache_dir, else OUT/cache)")
    p.add_argument("--seed", type=int, help="= baseline.seed")
    p.add_argument(
        "--per-speaker-norm", action="store_true", default=None, help="= baseline.per_speaker_norm=true"
    )
    p.add_argument("--class-weights", action="store_true", default=None, help="= baseline.class_weights=true")
    p.add_argument("--modality-dropout", type=float, help="= baseline.modality_dropout")
    p.add_argument("--task", choices=["classification", "regression"], help="= baseline.task")
    p.add_argument(
        "--text-encoder", help="= baseline.text_encoder, e.g. sentence-transformers/all-MiniLM-L6-v2"
    )
    add_config_arguments(p, "YAML preset whose modalities name the encoders (same as the LLM's)")


def flag_overrides(args: argparse.Namespace) -> list[str]:
    """The `baseline.KEY=VALUE` overrides the convenience flags stand for."""
    out = []
    for flag, key in FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            out.append(f"baseline.{key}={str(value).lower() if isinstance(value, bool) else value}")
    return out


def run(args: argparse.Namespace) -> int:
    """Train the baselines and print the comparison table."""
    from emollm.baselines import ALL, run_baselines, run_loso
    from emollm.config import load_config

    if not args.all and not args.fusion:
        raise ValueError("give --fusion NAME (repeatable) or --all")
    cfg = load_config(args.config, [*flag_overrides(args), *args.overrides])
    fusions = ALL if args.all else tuple(args.fusion)
    runner = run_loso if args.loso else run_baselines
    runner(cfg, args.data, args.out, fusions, cfg.baseline, cache_dir=args.cache)
    print((Path(args.out) / "comparison.md").read_text())
    return 0
