"""`emollm quickstart [--out DIR] [--data synthetic|real] [key=value ...]`: the whole pipeline on the default."""

from __future__ import annotations

import argparse

from emollm.cli.common import add_config_arguments

HELP = "Train and evaluate a small emotion MLLM end to end on the embedded default (or --data real)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm quickstart`."""
    p.add_argument("--out", default="runs/quickstart")
    p.add_argument("--data", default="synthetic", choices=["synthetic", "real"],
                   help="synthetic: the generated tri-modal corpus; real: MELD from $EMOLLM_DATA_DIR")  # fmt: skip
    p.add_argument("--n-test", type=int, default=128, help="test samples to evaluate")
    p.add_argument("--n-train", type=int, default=480, help="generated training samples (synthetic only)")
    add_config_arguments(p, "override the preset YAML")


def run(args: argparse.Namespace) -> int:
    """Run the quickstart."""
    from emollm.experiments.quickstart import quickstart

    quickstart(args.out, data=args.data, config=args.config, overrides=args.overrides,
               n_test=args.n_test, n_train=args.n_train)  # fmt: skip
    return 0
