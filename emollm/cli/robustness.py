"""`emollm robustness --ckpt DIR [--baseline DIR ...] --data test.jsonl --out OUT`: degraded and missing inputs."""

from __future__ import annotations

import argparse
from pathlib import Path

from emollm.cli.common import add_precision_argument

HELP = (
    "Evaluate under removed modalities, noise, blur/occlusion/dropped frames, sensor faults and misalignment."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm robustness`."""
    p.add_argument("--ckpt", help="LLM checkpoint folder")
    add_precision_argument(p)
    p.add_argument(
        "--baseline", action="append", help="saved fusion baseline folder, evaluated alongside (repeatable)"
    )
    p.add_argument("--data", required=True, help="split JSONL with raw media")
    p.add_argument("--out", required=True)
    p.add_argument("--modes", default="score", help="score (default), generate, or both")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int)
    p.add_argument("--cache", help="feature cache root (default: OUT/cache)")
    p.add_argument("--only", action="append", help="run only conditions starting with this (repeatable)")


def run(args: argparse.Namespace) -> int:
    """Run every condition for every system and print the side-by-side UAR table."""
    from emollm.evaluation.report.robustness import uar_grid
    from emollm.experiments.robustness import baseline_system, llm_system, run_robustness

    if not args.ckpt and not args.baseline:
        raise ValueError("give --ckpt DIR (an LLM checkpoint) and/or --baseline DIR (repeatable)")
    cache = args.cache or str(Path(args.out) / "cache")
    systems = []
    if args.ckpt:
        import emollm

        systems.append(
            llm_system(
                emollm.load(args.ckpt, precision=args.precision),
                tuple(args.modes.split(",")),
                args.batch_size,
                cache,
            )
        )
    systems += [baseline_system(folder, cache) for folder in args.baseline or []]
    summary = run_robustness(systems, args.data, args.out, args.limit, args.only)
    names, grid = list(summary["systems"]), uar_grid(summary["systems"])
    width = 2 + max(len(text) for text in names + [cell for _, _, cells in grid for cell in cells])
    print(f"{'condition':<26}" + "".join(f"{name:>{width}}" for name in names))
    for cond, _, cells in grid:
        print(f"{cond:<26}" + "".join(f"{cell:>{width}}" for cell in cells))
    print(
        f"UAR per condition (change vs clean; * paired 95% interval excludes 0); report: {Path(args.out) / 'report.md'}"
    )
    return 0
