"""Steps/s of one LoRA training step (forward + backward + AdamW) of the configured LM at batch B x L tokens.

    python benchmarks/lora_step.py [--lm HuggingFaceTB/SmolLM2-135M-Instruct] [--batch 4] [--length 128] [--steps 5]

Reports fp32 and bf16-autocast timings measured in the same run, and their ratio. Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from emollm.config import LMConfig
from emollm.model.lm import apply_lora, load_lm


def time_steps(lm: torch.nn.Module, batch: int, length: int, steps: int, autocast: bool) -> float:
    """Mean seconds per optimizer step (after one warm-up step)."""
    params = [p for p in lm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.randint(0, lm.get_input_embeddings().weight.shape[0], (batch, length))
    times = []
    for i in range(steps + 1):
        began = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = lm(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - began)
    return sum(times) / len(times)


def main() -> None:
    """Measure and print JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--lm", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    cfg = LMConfig(name_or_path=args.lm)
    lm, _, path = load_lm(cfg)
    lm = apply_lora(lm, cfg)
    trainable = sum(p.numel() for p in lm.parameters() if p.requires_grad)
    total = sum(p.numel() for p in lm.parameters())
    fp32 = time_steps(lm, args.batch, args.length, args.steps, autocast=False)
    bf16 = time_steps(lm, args.batch, args.length, args.steps, autocast=True)
    print(
        json.dumps(
            {
                "lm": args.lm,
                "resolved": path,
                "batch": args.batch,
                "length": args.length,
                "trainable_params": trainable,
                "total_params": total,
                "threads": torch.get_num_threads(),
                "fp32_s_per_step": round(fp32, 3),
                "fp32_steps_per_s": round(1 / fp32, 3),
                "bf16_s_per_step": round(bf16, 3),
                "bf16_steps_per_s": round(1 / bf16, 3),
                "bf16_speedup": round(fp32 / bf16, 2),
                "max_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
