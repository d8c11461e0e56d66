"""`emollm export --ckpt DIR --out OUT [--merge] [--metrics EVAL/metrics.json]`: a model other people can run."""

from __future__ import annotations

import argparse

HELP = (
    "Export a checkpoint with a model card (adapter in the standard peft format; --merge: also LoRA merged)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm export`."""
    p.add_argument("--ckpt", required=True, help="checkpoint folder (e.g. runs/quickstart/final)")
    p.add_argument("--out", required=True, help="export folder (replaced whole)")
    p.add_argument(
        "--merge", action="store_true", help="also write OUT/merged: the LoRA merged into the base LM"
    )
    p.add_argument("--metrics", help="an `emollm eval` metrics.json whose results go into the model card")


def run(args: argparse.Namespace) -> int:
    """Export and say where."""
    from emollm.export import export

    out = export(args.ckpt, args.out, merge=args.merge, metrics=args.metrics)
    print(f"exported {args.ckpt} to {out}" + (" (with merged/)" if args.merge else ""))
    return 0
