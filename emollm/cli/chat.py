"""`emollm chat --ckpt DIR [--text T] [--video F] [--audio F] [--sensor F] [--json | --ask Q]`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from emollm.cli.common import add_media_arguments, add_precision_argument, media_of

HELP = "One JSON answer (--json), one free answer (--ask), or an interactive REPL with the given inputs preloaded."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm chat`."""
    p.add_argument("--ckpt", required=True, help="checkpoint folder (e.g. runs/quickstart/final)")
    add_precision_argument(p)
    add_media_arguments(p)
    p.add_argument("--ask", help="a free question to answer once (instead of the REPL)")
    p.add_argument(
        "--json", action="store_true", help="answer once as JSON (label, rationale, scores, modalities)"
    )
    p.add_argument("--max-new-tokens", type=int, default=96)


def run(args: argparse.Namespace) -> int:
    """Load the checkpoint and answer."""
    import emollm
    from emollm.generate import chat, predict

    model = emollm.load(args.ckpt, precision=args.precision)
    media = media_of(args)
    if args.json:
        result = predict(model, text=args.text, media=media, max_new_tokens=args.max_new_tokens)
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    if args.ask is not None:
        print(
            chat(model, args.ask, text=args.text, media=media, max_new_tokens=args.max_new_tokens)["answer"]
        )
        return 0
    return repl(model, args.text, media, chat)


def _set_input(line: str, state: dict[str, Any]) -> None:
    """Apply a `:video PATH`, `:audio PATH`, `:sensor PATH` or `:text TEXT` line to the REPL state."""
    key, _, value = line[1:].partition(" ")
    if key == "text":
        state["text"] = value or None
    elif key in ("video", "audio", "sensor"):
        state["media"][key] = value
    else:
        print(f"unknown command :{key}")
        return
    state["turns"] = []


def repl(model: Any, text: str | None, media: dict[str, str], chat: Callable[..., dict]) -> int:
    """A small REPL: `:video PATH`, `:audio PATH`, `:sensor PATH`, `:text TEXT`, `:reset`, `:quit`; else a question."""
    print(
        "emollm chat. Set inputs with :video/:audio/:sensor PATH and :text TEXT; ask a question; :quit to leave."
    )
    state: dict[str, Any] = {"text": text, "media": media, "turns": []}
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            return 0
        if line in (":quit", ":q", ":exit"):
            return 0
        if line == ":reset":
            state = {"text": None, "media": {}, "turns": []}
        elif line.startswith(":"):
            _set_input(line, state)
        elif line:
            try:
                result = chat(model, line, text=state["text"], media=state["media"], turns=state["turns"])
            except (FileNotFoundError, ValueError) as exc:
                print(f"error: {exc}")
                continue
            print(f"emollm> {result['answer']}\n        [label by scoring: {result['label']}; "
                  f"inputs: {', '.join(result['modalities'])}]")  # fmt: skip
