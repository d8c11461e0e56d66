"""`emollm compare EVAL_A EVAL_B [--mode score|generate]`: a paired test of two systems on the same samples."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Paired test of two systems on the same samples: bootstrap UAR/accuracy difference and McNemar."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm compare`."""
    p.add_argument("a", help="system A: an `emollm eval` output folder or its predictions.jsonl")
    p.add_argument("b", help="system B, on the same split")
    p.add_argument(
        "--mode", default="score", choices=["score", "generate"], help="which predictions to compare"
    )
    p.add_argument("--names", help="display names A,B (default: the folder names)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the result as JSON here")


def run(args: argparse.Namespace) -> int:
    """Compare and print the result."""
    from emollm.evaluation.compare import compare_predictions, format_comparison
    from emollm.io import atomic_write_json

    names = tuple(args.names.split(",")) if args.names else (Path(args.a).name, Path(args.b).name)
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"--names needs two different names separated by a comma, got {args.names!r}")
    result = compare_predictions(args.a, args.b, args.mode, names, n=args.resamples, seed=args.seed)
    print(format_comparison(result))
    if args.out:
        atomic_write_json(Path(args.out), result)
        print(f"wrote {args.out}")
    return 0
