"""`emollm eval --ckpt DIR | --baseline DIR --data test.jsonl --out OUT [--label-map NAME]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from emollm.cli.common import add_precision_argument

HELP = "Evaluate a checkpoint (or a saved fusion baseline) on a split file: predictions, metrics, report."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm eval`."""
    p.add_argument("--ckpt", help="LLM checkpoint folder")
    add_precision_argument(p)
    p.add_argument("--baseline", help="saved fusion baseline folder (OUT/<fusion> of emollm baseline)")
    p.add_argument("--data", required=True, help="split JSONL")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--label-map", help="map the data's gold labels into the model's label space (eval/label_maps)"
    )
    p.add_argument("--modes", default="generate,score", help="generate, score or both (comma-separated)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--limit", type=int)
    p.add_argument("--cache", help="feature cache root (default: OUT/cache)")
    p.add_argument("--media-root", action="append", default=[],
                   help="a folder media paths may point into besides the split's own folder (repeatable)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the headline table."""
    from emollm.evaluation.metrics import format_table

    if bool(args.ckpt) == bool(args.baseline):
        raise ValueError(
            "give exactly one of --ckpt DIR (an LLM checkpoint) or --baseline DIR (a fusion baseline)"
        )
    if args.baseline:
        from emollm.baselines.saved import evaluate_baseline

        metrics = evaluate_baseline(
            args.baseline, args.data, args.out, args.cache, args.label_map, media_roots=args.media_root
        )
        modes: tuple[str, ...] = ("score",)
    else:
        import emollm
        from emollm.evaluation.evaluate import evaluate

        modes = tuple(args.modes.split(","))
        metrics = evaluate(emollm.load(args.ckpt, precision=args.precision), args.data, args.out, batch_size=args.batch_size, modes=modes,
                           limit=args.limit, cache_dir=args.cache, label_map=args.label_map,
                           media_roots=args.media_root)  # fmt: skip
    print(format_table({mode: metrics[mode] for mode in modes}))
    for mode in modes:
        ci = metrics[mode]["ci95"]["uar"]
        ms = 1000 * metrics[mode]["seconds_per_sample"]
        print(f"{mode}: UAR 95% CI [{ci[0]:.3f}, {ci[1]:.3f}], {ms:.1f} ms/sample")
    print(f"wrote {Path(args.out) / 'metrics.json'}, predictions.jsonl and report.md")
    return 0
