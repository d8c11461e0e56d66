"""`emollm cross-corpus --spec eval/cross_corpus.yaml --out OUT`: the train -> test matrix."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "Train -> test matrix over corpora (zero-shot with label maps, and in-corpus) for the LLM and baselines."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm cross-corpus`."""
    p.add_argument("--spec", required=True, help="YAML spec (see eval/cross_corpus.yaml)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="evaluate at most N samples per test set")


def run(args: argparse.Namespace) -> int:
    """Run the matrix and print UAR per pair and system."""
    from emollm.experiments.cross_corpus import run_cross_corpus

    summary = run_cross_corpus(args.spec, args.out, seed=args.seed, limit=args.limit)
    for pair in summary["pairs"]:
        cells = ", ".join(f"{k} {v['uar']:.3f}" for k, v in pair["systems"].items())
        print(f"{pair['pair']:<28} {pair['kind']:<10} UAR: {cells}")
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0
