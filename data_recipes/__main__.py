"""`python -m data_recipes NAME --root RAW --out DIR [--limit N] [--seed S] [--opt KEY=VALUE ...] [--strict]`.

Bad rows (missing or empty media, malformed rows, unknown label codes, duplicated ids) are reported with file,
line and reason in manifest.json and on stderr; everything valid is written. Exit status: 0, or 3 when --strict
and anything was reported, 2 on a usage/layout error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from data_recipes import RECIPES
from data_recipes.common import render_messages


def _options(pairs: list[str]) -> dict[str, str]:
    opts = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--opt takes KEY=VALUE, got {pair!r}")
        opts[key.replace("-", "_")] = value
    return opts


def main(argv: list[str] | None = None) -> int:
    """Run one corpus converter and print its manifest summary."""
    parser = argparse.ArgumentParser(prog="python -m data_recipes", description=__doc__)
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--root", default=None, help="raw corpus folder (not needed for synthetic)")
    parser.add_argument("--out", required=True, help="output folder for the split JSONL files")
    parser.add_argument("--limit", type=int, default=None, help="keep at most N samples per split (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="recipe option, e.g. classes=6 (iemocap), label=perceived (cremad), eeg=1 (deap)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 3 when any bad row was reported")
    parser.add_argument(
        "--messages",
        metavar="TEMPLATE",
        help="also store chat messages rendered with this prompt "
        "template in every record (training then uses them instead of the template's paraphrases)",
    )
    parser.add_argument("--media", action="store_true", help="synthetic: raw mp4/wav/CSV instead of features")
    parser.add_argument("--n", type=int, default=None, help="synthetic: training samples")
    args = parser.parse_args(argv)
    began = time.time()
    try:
        opts = _options(args.opt)
        if args.name == "synthetic":
            opts.update(media=args.media, n=args.n)
        elif args.media or args.n is not None:
            raise ValueError("--media and --n apply to the synthetic recipe only")
        if args.messages and args.name == "synthetic":
            raise ValueError(
                "--messages applies to corpus recipes (the synthetic corpus is rendered at training)"
            )
        with render_messages(args.messages):
            manifest = RECIPES[args.name](
                root=args.root, out=args.out, limit=args.limit, seed=args.seed, **opts
            )
    except TypeError as exc:
        print(f"error: {args.name}: unsupported option ({exc})", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bad = manifest.get("bad", [])
    for row in bad:
        print(f"bad row: {row['file']}:{row.get('line') or '-'}: {row['reason']}", file=sys.stderr)
    summary = {k: v for k, v in manifest.items() if k != "bad"}
    print(json.dumps({**summary, "bad_rows": len(bad), "seconds": round(time.time() - began, 2)}, indent=2))
    return 3 if args.strict and bad else 0


if __name__ == "__main__":
    sys.exit(main())
