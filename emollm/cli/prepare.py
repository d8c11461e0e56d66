"""`emollm prepare NAME --root RAW --out DIR ...`: convert a corpus (same options as `python -m data_recipes`)."""

from __future__ import annotations

import argparse

HELP = "Convert a corpus (or generate the synthetic one) into Sample JSONL (same options as python -m data_recipes)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm prepare`."""
    p.add_argument("name", help="recipe name (see python -m data_recipes --help)")
    p.add_argument(
        "rest", nargs=argparse.REMAINDER, help="--root RAW --out DIR [--limit N] [--opt K=V] [--strict]"
    )


def run(args: argparse.Namespace) -> int:
    """Hand the arguments to the recipe runner."""
    from emollm.data.recipes import prepare_main

    return prepare_main([args.name, *args.rest])
