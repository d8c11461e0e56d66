"""`emollm train --config YAML key=value ... [--resume auto|PATH]`: two-stage LLM training."""

from __future__ import annotations

import argparse

from emollm.cli.common import add_config_arguments

HELP = "Train from a YAML config plus key=value overrides."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm train`."""
    add_config_arguments(p, "YAML preset (see configs/)")
    p.add_argument(
        "--resume", help="auto (latest step checkpoint in train.out_dir) or a step checkpoint path"
    )


def run(args: argparse.Namespace) -> int:
    """Load the config and train."""
    from emollm.config import load_config
    from emollm.train import train

    final = train(load_config(args.config, args.overrides), resume=args.resume)
    print(f"checkpoint: {final}")
    return 0
