"""`emollm rationales --config YAML --data split.jsonl --out split.jsonl`: cue-grounded training rationales."""

from __future__ import annotations

import argparse
import json

from emollm.cli.common import add_config_arguments

HELP = "Measure interpretable cues with the config's encoders and write cue-grounded rationales into a split copy."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm rationales`."""
    add_config_arguments(p, "YAML preset whose modalities name the encoders")
    p.add_argument("--data", required=True, help="split JSONL to annotate")
    p.add_argument("--out", required=True, help="annotated copy (may equal --data)")
    p.add_argument("--cache", help="feature cache root (default: data.cache_dir)")


def run(args: argparse.Namespace) -> int:
    """Annotate; exit 1 when any rationale fails its grounding check."""
    from emollm.config import load_config
    from emollm.rationale import annotate_file

    summary = annotate_file(load_config(args.config, args.overrides), args.data, args.out, args.cache)
    print(
        json.dumps({k: v for k, v in summary.items() if k != "bad"} | {"bad": len(summary["bad"])}, indent=2)
    )
    return 0 if summary["ungrounded"] == 0 else 1
