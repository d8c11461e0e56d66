"""Evaluation verbs of the `emollm` command: eval, cross-corpus, robustness, compare, rationales."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint (or a saved fusion baseline) on a split file: predictions, metrics, report."""
    from emollm.evaluate import format_table

    if bool(args.ckpt) == bool(args.baseline):
        raise ValueError(
            "give exactly one of --ckpt DIR (an LLM checkpoint) or --baseline DIR (a fusion baseline)"
        )
    if args.baseline:
        from emollm.baselines.saved import evaluate_baseline

        metrics = evaluate_baseline(args.baseline, args.data, args.out, args.cache, args.label_map)
        modes: tuple[str, ...] = ("score",)
    else:
        import emollm
        from emollm.evaluate import evaluate

        modes = tuple(args.modes.split(","))
        metrics = evaluate(emollm.load(args.ckpt), args.data, args.out, batch_size=args.batch_size, modes=modes,
                           limit=args.limit, cache_dir=args.cache, label_map=args.label_map)  # fmt: skip
    print(format_table({mode: metrics[mode] for mode in modes}))
    for mode in modes:
        ci = metrics[mode]["ci95"]["uar"]
        print(
            f"{mode}: UAR 95% CI [{ci[0]:.3f}, {ci[1]:.3f}], {1000 * metrics[mode]['seconds_per_sample']:.1f} ms/sample"
        )
    print(f"wrote {Path(args.out) / 'metrics.json'}, predictions.jsonl and report.md")
    return 0


def cmd_cross_corpus(args: argparse.Namespace) -> int:
    """Train -> test matrix over corpora (zero-shot with label maps, and in-corpus) for the LLM and baselines."""
    from emollm.cross_corpus import run_cross_corpus

    summary = run_cross_corpus(args.spec, args.out, seed=args.seed, limit=args.limit)
    for pair in summary["pairs"]:
        cells = ", ".join(f"{k} {v['uar']:.3f}" for k, v in pair["systems"].items())
        print(f"{pair['pair']:<28} {pair['kind']:<10} UAR: {cells}")
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def cmd_robustness(args: argparse.Namespace) -> int:
    """Evaluate under removed modalities, noise, blur/occlusion/dropped frames, sensor faults and misalignment."""
    from emollm.report_robustness import uar_grid
    from emollm.robustness import baseline_system, llm_system, run_robustness

    if not args.ckpt and not args.baseline:
        raise ValueError("give --ckpt DIR (an LLM checkpoint) and/or --baseline DIR (repeatable)")
    cache = args.cache or str(Path(args.out) / "cache")
    systems = []
    if args.ckpt:
        import emollm

        systems.append(
            llm_system(emollm.load(args.ckpt), tuple(args.modes.split(",")), args.batch_size, cache)
        )
    systems += [baseline_system(folder, cache) for folder in args.baseline or []]
    summary = run_robustness(systems, args.data, args.out, args.limit, args.only)
    names, grid = list(summary["systems"]), uar_grid(summary["systems"])
    width = 2 + max(len(text) for text in names + [cell for _, _, cells in grid for cell in cells])
    print(f"{'condition':<26}" + "".join(f"{name:>{width}}" for name in names))
    for cond, _, cells in grid:
        print(f"{cond:<26}" + "".join(f"{cell:>{width}}" for cell in cells))
    print(
        f"UAR per condition (change vs clean; * paired 95% interval excludes 0); report: {Path(args.out) / 'report.md'}"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Paired test of two systems on the same samples: bootstrap UAR/accuracy difference and McNemar."""
    from emollm.compare import compare_predictions, format_comparison
    from emollm.io import atomic_write_json

    names = tuple(args.names.split(",")) if args.names else (Path(args.a).name, Path(args.b).name)
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"--names needs two different names separated by a comma, got {args.names!r}")
    result = compare_predictions(args.a, args.b, args.mode, names, n=args.resamples, seed=args.seed)
    print(format_comparison(result))
    if args.out:
        atomic_write_json(Path(args.out), result)
        print(f"wrote {args.out}")
    return 0


def cmd_rationales(args: argparse.Namespace) -> int:
    """Measure interpretable cues with the config's encoders and write cue-grounded rationales into a split copy."""
    from emollm.config import load_config
    from emollm.rationale import annotate_file

    cfg = load_config(args.config, args.overrides)
    summary = annotate_file(cfg, args.data, args.out, args.cache)
    print(
        json.dumps({k: v for k, v in summary.items() if k != "bad"} | {"bad": len(summary["bad"])}, indent=2)
    )
    return 0 if summary["ungrounded"] == 0 else 1


def add_eval_verbs(sub: argparse._SubParsersAction) -> None:
    """Register eval, cross-corpus, robustness, compare and rationales."""
    p = sub.add_parser("eval", help=cmd_eval.__doc__)
    p.add_argument("--ckpt", help="LLM checkpoint folder")
    p.add_argument("--baseline", help="saved fusion baseline folder (OUT/<fusion> of emollm baseline)")
    p.add_argument("--data", required=True, help="split JSONL")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--label-map", help="map the data's gold labels into the model's label space (eval/label_maps)"
    )
    p.add_argument("--modes", default="generate,score", help="generate, score or both (comma-separated)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--limit", type=int)
    p.add_argument("--cache", help="feature cache root (default: OUT/cache)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("cross-corpus", help=cmd_cross_corpus.__doc__)
    p.add_argument("--spec", required=True, help="YAML spec (see eval/cross_corpus.yaml)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="evaluate at most N samples per test set")
    p.set_defaults(func=cmd_cross_corpus)

    p = sub.add_parser("robustness", help=cmd_robustness.__doc__)
    p.add_argument("--ckpt", help="LLM checkpoint folder")
    p.add_argument(
        "--baseline", action="append", help="saved fusion baseline folder, evaluated alongside (repeatable)"
    )
    p.add_argument("--data", required=True, help="split JSONL with raw media")
    p.add_argument("--out", required=True)
    p.add_argument("--modes", default="score", help="score (default), generate, or both")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int)
    p.add_argument("--cache", help="feature cache root (default: OUT/cache)")
    p.add_argument("--only", action="append", help="run only conditions starting with this (repeatable)")
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("compare", help=cmd_compare.__doc__)
    p.add_argument("a", help="system A: an `emollm eval` output folder or its predictions.jsonl")
    p.add_argument("b", help="system B, on the same split")
    p.add_argument(
        "--mode", default="score", choices=["score", "generate"], help="which predictions to compare"
    )
    p.add_argument("--names", help="display names A,B (default: the folder names)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the result as JSON here")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("rationales", help=cmd_rationales.__doc__)
    p.add_argument("--config", help="YAML preset whose modalities name the encoders")
    p.add_argument("--data", required=True, help="split JSONL to annotate")
    p.add_argument("--out", required=True, help="annotated copy (may equal --data)")
    p.add_argument("--cache", help="feature cache root (default: data.cache_dir)")
    p.add_argument("overrides", nargs="*", help="key.path=value overrides")
    p.set_defaults(func=cmd_rationales)
