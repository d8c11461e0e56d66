"""`emollm extract --config YAML --data split.jsonl [--cache DIR]`: fill the feature cache."""

from __future__ import annotations

import argparse
import json

from emollm.cli.common import add_config_arguments

HELP = "Run the configured frozen encoders over a split's media and fill the feature cache."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm extract`."""
    add_config_arguments(p, "YAML preset whose modalities name the encoders")
    p.add_argument("--data", required=True, help="split JSONL")
    p.add_argument("--cache", help="feature cache root (default: data.cache_dir)")
    p.add_argument("--report", help="bad-sample report path (default: CACHE/bad_samples.<split>.json)")


def run(args: argparse.Namespace) -> int:
    """Extract and print the summary."""
    from emollm.config import load_config
    from emollm.extract import extract

    cfg = load_config(args.config, args.overrides)
    cache = args.cache or cfg.data.cache_dir
    if not cache:
        raise ValueError("give --cache DIR or set data.cache_dir")
    print(json.dumps(extract(cfg, args.data, cache, args.report), indent=2))
    return 0
