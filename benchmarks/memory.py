"""Peak memory of `emollm extract` and `emollm eval` on 1k vs 20k samples: both stream, so the peak should stay flat.

    python benchmarks/memory.py [--small 1000] [--large 20000] [--out runs/bench-memory]

Each job runs in a fresh process (its peak resident set, ru_maxrss, is its own) on the generated corpus in feature
form (video/audio/sensor feature files) with a tiny random LM checkpoint, label scoring only. Prints one JSON
object: peak RSS per job and size, the large / small ratio per job (target <= 1.2) and the growth per extra sample
(what a job keeps per sample: its id, labels and prediction row, never its features).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODALITIES = [
    "modalities.video={encoder: precomputed, encoder_args: {dim: 32}, num_tokens: 2}",
    "modalities.audio={encoder: precomputed, encoder_args: {dim: 24}, num_tokens: 2}",
    "modalities.sensor={encoder: precomputed, encoder_args: {dim: 8}, num_tokens: 2}",
]


def prepare(out: Path, sizes: list[int]) -> Path:
    """A tiny LM, a checkpoint trained for 2 steps, and one generated test split per size."""
    from emollm.config import load_config
    from emollm.data.synthetic import SyntheticSpec, generate
    from emollm.testing import make_tiny_lm
    from emollm.train import train

    lm = make_tiny_lm(out / "lm")
    for n in sizes:
        generate(out / f"data-{n}", SyntheticSpec(n_train=8, n_dev=4, n_test=n, seed=0))
    cfg = load_config(None, [f"lm.name_or_path={lm}", f"data.train={out / f'data-{sizes[0]}' / 'train.jsonl'}",
                             f"train.out_dir={out / 'run'}", "train.steps=2", *MODALITIES])  # fmt: skip
    return train(cfg)


def child(job: str, data: Path, ckpt: Path, out: Path) -> dict:
    """Run one job in this process and report its peak resident memory."""
    from emollm.cli import main

    began = time.time()
    if job == "extract":
        argv = ["extract", "--data", str(data), "--cache", str(out / "cache"), *MODALITIES]
    else:
        argv = ["eval", "--ckpt", str(ckpt), "--data", str(data), "--out", str(out / "eval"), "--modes", "score",
                "--batch-size", "32"]  # fmt: skip
    if main(argv) != 0:
        raise SystemExit(f"{job} failed")
    return {"job": job, "n": sum(1 for _ in data.open()), "seconds": round(time.time() - began, 1),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}  # fmt: skip


def main() -> None:
    """Prepare, then run each job at each size in a fresh process."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=20000)
    ap.add_argument("--out", default="runs/bench-memory")
    ap.add_argument("--child", nargs=4, metavar=("JOB", "DATA", "CKPT", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        job, data, ckpt, out = args.child
        print(json.dumps(child(job, Path(data), Path(ckpt), Path(out))))
        return
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)  # a fresh run every time
    ckpt = prepare(out, [args.small, args.large])
    result: dict = {"runs": []}
    env = {**os.environ, "TQDM_DISABLE": "1"}
    for job in ("extract", "eval"):
        for n in (args.small, args.large):
            cmd = [sys.executable, __file__, "--child", job, str(out / f"data-{n}" / "test.jsonl"), str(ckpt),
                   str(out / f"{job}-{n}")]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
            result["runs"].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for job in ("extract", "eval"):
        peaks = {r["n"]: r["peak_rss_gb"] for r in result["runs"] if r["job"] == job}
        result[f"{job}_peak_ratio"] = round(peaks[args.large] / peaks[args.small], 3)
        growth = (
            (peaks[args.large] - peaks[args.small]) * 1e6 / (args.large - args.small)
        )  # GB -> KB per sample
        result[f"{job}_kb_per_extra_sample"] = round(growth, 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
