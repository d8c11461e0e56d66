"""`python -m data_recipes NAME --root RAW --out DIR [--limit N] [--seed S]`."""

from __future__ import annotations

import argparse
import json
import sys

from data_recipes import RECIPES


def main(argv: list[str] | None = None) -> int:
    """Run one corpus converter and print its manifest."""
    parser = argparse.ArgumentParser(prog="python -m data_recipes", description=__doc__)
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--root", default=None, help="raw corpus folder (not needed for synthetic)")
    parser.add_argument("--out", required=True, help="output folder for train/dev/test JSONL")
    parser.add_argument("--limit", type=int, default=None, help="keep at most N samples per split (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--media", action="store_true", help="synthetic only: raw mp4/wav/CSV instead of features"
    )
    args = parser.parse_args(argv)
    try:
        extra = {"media": True} if args.media else {}
        if extra and args.name != "synthetic":
            raise ValueError("--media applies to the synthetic recipe only")
        manifest = RECIPES[args.name](root=args.root, out=args.out, limit=args.limit, seed=args.seed, **extra)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
