"""`emollm results [--out runs/results] [--only TASK ...] [--publish eval/results]`: every headline result."""

from __future__ import annotations

import argparse
import json

HELP = "Train and evaluate the LLM and its baselines on every results task; write summary.json and report.md."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm results`."""
    p.add_argument("--out", default="runs/results")
    p.add_argument("--only", action="append", help="meld, emorynlp, floor, emodb or generated (repeatable)")
    p.add_argument("--publish", help="also copy summary.json and report.md here (e.g. eval/results)")


def run(args: argparse.Namespace) -> int:
    """Run the tasks and print the summary."""
    from emollm.experiments.results import run_results

    summary = run_results(args.out, args.only, args.publish)
    print(json.dumps({t: {k: v.get("uar") for k, v in s.items() if isinstance(v, dict) and "uar" in v}
                      for t, s in summary.items()}, indent=2))  # fmt: skip
    return 0
