"""`emollm serve --ckpt DIR [--host 127.0.0.1 --port 7860] [--baseline DIR]`: the web demo."""

from __future__ import annotations

import argparse
import tempfile

from emollm.cli.common import add_precision_argument

HELP = (
    "Serve a web page that answers what a person feels, and why, from uploaded video, audio, sensor and text."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `emollm serve`."""
    p.add_argument("--ckpt", required=True, help="checkpoint folder (e.g. runs/quickstart/final)")
    add_precision_argument(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument(
        "--baseline", help="a saved fusion baseline (emollm baseline OUT/<fusion>) shown beside the LLM"
    )
    p.add_argument("--max-upload-mb", type=float, default=50, help="largest file accepted per input")
    p.add_argument(
        "--asr",
        default="auto",
        help="auto (transcribe audio without text when Whisper is installed), off, or an encoder name",
    )
    p.add_argument("--work", help="folder for uploads and the feature cache (default: a temporary one)")


def run(args: argparse.Namespace) -> int:
    """Load the model and serve until interrupted."""
    import uvicorn

    import emollm
    from emollm.serve.analysis import Analyzer
    from emollm.serve.app import build_app

    work = args.work or tempfile.mkdtemp(prefix="emollm-serve-")
    limit = int(args.max_upload_mb * (1 << 20))
    analyzer = Analyzer(
        emollm.load(args.ckpt, precision=args.precision), work, args.baseline, args.asr, limit
    )
    print(f"emollm demo on http://{args.host}:{args.port} (uploads in {work})")
    uvicorn.run(build_app(analyzer, limit), host=args.host, port=args.port, log_level="warning")
    return 0
