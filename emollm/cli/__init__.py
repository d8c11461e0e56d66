"""The `emollm` command: a table of verbs, one module each under `emollm/cli/`, with the verb's options beside its
body (`HELP`, `add_arguments(parser)`, `run(args) -> int`). `python -m emollm` works too, so
`accelerate launch -m emollm train ...` does. Library imports happen inside `run`, so `emollm --help` stays fast."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from types import ModuleType

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# verb -> module under emollm.cli (order = order in --help)
VERBS: dict[str, str] = {
    "prepare": "prepare",
    "extract": "extract",
    "train": "train",
    "chat": "chat",
    "eval": "eval",
    "calibrate": "calibrate",
    "cross-corpus": "cross_corpus",
    "robustness": "robustness",
    "compare": "compare",
    "rationales": "rationales",
    "baseline": "baseline",
    "quickstart": "quickstart",
    "results": "results",
    "export": "export",
    "serve": "serve",
}


def verb_module(verb: str) -> ModuleType:
    """The module implementing a verb."""
    return importlib.import_module(f"emollm.cli.{VERBS[verb]}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every verb."""
    parser = argparse.ArgumentParser(prog="emollm", description="Multimodal emotion recognition with LLMs.")
    sub = parser.add_subparsers(dest="verb", required=True)
    for verb in VERBS:
        module = verb_module(verb)
        p = sub.add_parser(verb, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a verb; known user errors print one line and exit 2."""
    args = build_parser().parse_args(argv)  # before the library imports: `--help` needs none of them
    from emollm.checkpoint import CheckpointError
    from emollm.config import ConfigError
    from emollm.evaluation.report.page import set_command

    set_command(["emollm", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")  # fmt: skip
    try:
        return args.func(args)
    except (ConfigError, CheckpointError, FileNotFoundError, FileExistsError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
