"""`emollm calibrate --ckpt DIR --dev dev.jsonl [--train train.jsonl] [--metric weighted_f1] [--remove]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from emollm.cli.common import add_precision_argument

HELP = (
    "Fit a checkpoint's label-prior adjustment on dev data (scores minus tau * log training prior; tau chosen for "
    "a metric) and save it in the checkpoint, so eval, chat and serve apply it."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm calibrate`."""
    p.add_argument("--ckpt", required=True, help="LLM checkpoint folder (gets prior_adjustment.json)")
    add_precision_argument(p)
    p.add_argument("--dev", help="dev split JSONL, scored here (or give --predictions)")
    p.add_argument(
        "--predictions", help="predictions.jsonl of an earlier `emollm eval --modes score` on dev data"
    )
    p.add_argument(
        "--train", help="split whose label frequencies are the prior (default: the run's data.train)"
    )
    p.add_argument("--metric", default="weighted_f1", help="weighted_f1, uar, macro_f1 or accuracy")
    p.add_argument("--out", help="where the dev evaluation goes (default: CKPT/prior-dev)")
    p.add_argument("--label-map", help="map the dev data's gold labels into the model's label space")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--remove", action="store_true", help="delete the checkpoint's adjustment and stop")


def run(args: argparse.Namespace) -> int:
    """Fit tau, print the dev table and write CKPT/prior_adjustment.json."""
    from emollm.checkpoint import check_checkpoint
    from emollm.config import load_config
    from emollm.evaluation.prior_fit import fit_from_predictions
    from emollm.labels import get_labels
    from emollm.prior_adjustment import FILENAME, label_prior, save_prior_adjustment

    folder = check_checkpoint(args.ckpt)
    if args.remove:
        (folder / FILENAME).unlink(missing_ok=True)
        print(f"removed {folder / FILENAME}: label scores are unadjusted")
        return 0
    if bool(args.dev) == bool(args.predictions):
        raise ValueError(
            "give exactly one of --dev FILE (scored here) or --predictions FILE (an earlier eval)"
        )
    cfg = load_config(folder / "config.yaml")
    labels = get_labels(cfg.data.labels)
    train = args.train or cfg.data.train
    if not train or not Path(train).is_file():
        raise FileNotFoundError(f"label prior: training split {train!r} not found; give --train FILE")
    predictions = Path(args.predictions) if args.predictions else _score_dev(args, folder)
    adjustment = fit_from_predictions(predictions, labels, label_prior(train, labels), args.metric)
    for tau, value in adjustment.dev_scores.items():
        print(
            f"tau {tau:>3}: dev {args.metric} {value:.4f}{'  <- chosen' if float(tau) == adjustment.tau else ''}"
        )
    print(
        f"{adjustment.selection}\nwrote {save_prior_adjustment(folder, adjustment)} (tau {adjustment.tau:g})"
    )
    return 0


def _score_dev(args: argparse.Namespace, folder: Path) -> Path:
    """Label scores of the checkpoint on the dev split (unadjusted scores kept in each row)."""
    import emollm
    from emollm.evaluation.evaluate import evaluate

    out = Path(args.out) if args.out else folder / "prior-dev"
    evaluate(emollm.load(folder, precision=args.precision), args.dev, out, batch_size=args.batch_size, modes=("score",),
             label_map=args.label_map, report=False)  # fmt: skip
    return out / "predictions.jsonl"
