"""GPU check (run where a CUDA device exists): the training, checkpoint and evaluation paths on CUDA with bf16, a
QLoRA 4-bit step, LoRA step throughput of a SmolLM2-135M-shaped LM (random weights: same shapes and FLOPs) against
the CPU figure measured on this repo's CI machine, and a short tiny-LM training under each GPU engine config in
configs/accelerate/ (single GPU, DDP, DeepSpeed ZeRO-2, ZeRO-3 + CPU offload, FSDP2) with as many processes as there
are GPUs (at most 2; DeepSpeed only where it is installed: each engine reports what ran or why it did not).

    PYTHONPATH=. python benchmarks/gpu_check.py --out DIR

Prints one JSON object (also DIR/gpu_check.json). Needs no hub access: every model is built locally.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

CPU_BF16_STEPS_PER_S = 0.368  # benchmarks/lora_step.py on the 2-core CI machine, batch 4 x 128 (README)


def smollm2_shaped(device: str) -> torch.nn.Module:
    """A randomly initialised LLaMA with SmolLM2-135M's configuration, with emollm's default LoRA."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from emollm.config import LMConfig
    from emollm.model.lm import apply_lora

    cfg = LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                      num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True, max_position_embeddings=2048)  # fmt: skip
    torch.manual_seed(0)
    return apply_lora(LlamaForCausalLM(cfg), LMConfig()).to(device)


def steps_per_s(lm: torch.nn.Module, batch: int, length: int, steps: int = 10) -> float:
    """LoRA optimizer steps per second under bf16 autocast (after 3 warm-up steps)."""
    opt = torch.optim.AdamW([p for p in lm.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, 49152, (batch, length), device="cuda")
    for i in range(steps + 3):
        if i == 3:
            torch.cuda.synchronize()
            began = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = lm(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    return steps / (time.perf_counter() - began)


def pipeline(out: Path) -> dict:
    """Tiny LM: accelerate training (bf16, align + instruct), checkpoint reload on CUDA, both evaluation modes."""
    from emollm.checkpoint import load_checkpoint
    from emollm.config import load_config
    from emollm.data.synthetic import SyntheticSpec, generate
    from emollm.evaluation.evaluate import evaluate
    from emollm.testing import make_tiny_lm
    from emollm.train import train

    lm = make_tiny_lm(out / "tiny_lm", hidden=128, layers=2)
    data = out / "syn"
    generate(data, SyntheticSpec(n_train=96, n_dev=16, n_test=32, seed=2))
    over = [f"lm.name_or_path={lm}", f"data.train={data / 'train.jsonl'}", f"train.out_dir={out / 'run'}",
            "train.steps=40", "train.align_steps=10", "train.batch_size=8", "train.lr=5e-3", "train.mixed_precision=bf16",
            "modalities.video={encoder: precomputed, encoder_args: {dim: 32}, num_tokens: 2}",
            "modalities.audio={encoder: precomputed, encoder_args: {dim: 24}, num_tokens: 2}",
            "modalities.sensor={encoder: precomputed, encoder_args: {dim: 8}, projector: resampler, num_tokens: 2}"]  # fmt: skip
    began = time.time()
    final = train(load_config(None, over))
    seconds = time.time() - began
    log = [json.loads(x) for x in (out / "run" / "log.jsonl").read_text().splitlines() if '"loss"' in x]
    model = load_checkpoint(final, device="cuda")
    metrics = evaluate(model, data / "test.jsonl", out / "eval", batch_size=16, report=False)
    device = str(next(model.lm.parameters()).device)
    quant = {}
    try:
        qfinal = train(load_config(None, [*over, f"train.out_dir={out / 'qrun'}", "lm.quantization=4bit", "train.steps=4",
                                          "train.align_steps=0"]))  # fmt: skip
        quant = {"qlora_4bit_trained": (qfinal / "meta.json").is_file()}
    except Exception as exc:  # noqa: BLE001 - report, do not hide
        quant = {"qlora_4bit_error": f"{type(exc).__name__}: {exc}"}
    return {
        "train_seconds": round(seconds, 1),
        "first_loss": log[0]["loss"],
        "last_loss": log[-1]["loss"],
        "model_device": device,
        "score": {k: metrics["score"][k] for k in ("accuracy", "uar", "n", "seconds_per_sample")},
        "generate": {
            k: metrics["generate"][k] for k in ("accuracy", "uar", "unparsed_rate", "n", "seconds_per_sample")
        },
        **quant,
    }


def main() -> None:
    """Run the checks; each part reports its own error instead of stopping the others."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/gpu_check")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import accelerate
    import peft
    import transformers

    result: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
                    "transformers": transformers.__version__, "peft": peft.__version__,
                    "accelerate": accelerate.__version__}  # fmt: skip
    for name, fn in (
        ("pipeline", lambda: pipeline(out)),
        ("throughput", throughput),
        ("engines", lambda: engines(out)),
    ):
        try:
            result[name] = fn()
        except Exception:  # noqa: BLE001
            result[name] = {"error": traceback.format_exc(limit=6)}
    (out / "gpu_check.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def throughput() -> dict:
    """SmolLM2-135M-shaped LoRA steps/s at the CPU benchmark's shape and at a GPU-sized batch."""
    lm = smollm2_shaped("cuda")
    small = steps_per_s(lm, 4, 128)
    big = steps_per_s(lm, 32, 256)
    return {"bf16_steps_per_s_b4x128": round(small, 2), "vs_cpu_ci_machine": round(small / CPU_BF16_STEPS_PER_S, 1),
            "bf16_steps_per_s_b32x256": round(big, 2), "tokens_per_s_b32x256": round(big * 32 * 256),
            "max_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2)}  # fmt: skip


if __name__ == "__main__":
    main()


ENGINES = ("gpu_single", "multi_gpu_ddp", "deepspeed_zero2", "deepspeed_zero3_offload", "fsdp")


def engines(out: Path, steps: int = 6) -> dict:
    """Each GPU engine config launched with `accelerate launch` on a tiny LM: return code, seconds, first and last
    loss, whether final/ was written, or why the engine was not run."""
    from emollm.data.synthetic import SyntheticSpec, generate
    from emollm.testing import make_tiny_lm

    root = Path(__file__).resolve().parent.parent
    lm, data = make_tiny_lm(out / "engines" / "lm", hidden=128, layers=2), out / "engines" / "syn"
    generate(data, SyntheticSpec(n_train=64, n_dev=8, n_test=8, seed=3))
    gpus = torch.cuda.device_count()
    result = {}
    for name in ENGINES:
        procs = 1 if name == "gpu_single" else max(1, min(gpus, 2))
        if name.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
            result[name] = {"ran": False, "why": "deepspeed is not installed here (pip install deepspeed)"}
            continue
        run = out / "engines" / name
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               str(root / "configs" / "accelerate" / f"{name}.yaml"), "--num_processes", str(procs),
               "-m", "emollm", "train", f"lm.name_or_path={lm}", f"data.train={data / 'train.jsonl'}",
               f"train.out_dir={run}", f"train.steps={steps}", "train.align_steps=2", "train.batch_size=4",
               "modalities.video={encoder: precomputed, encoder_args: {dim: 32}, num_tokens: 2}",
               "modalities.audio={encoder: precomputed, encoder_args: {dim: 24}, num_tokens: 2}",
               "modalities.sensor={encoder: precomputed, encoder_args: {dim: 8}, num_tokens: 2}"]  # fmt: skip
        began = time.time()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                              env={**os.environ, "PYTHONPATH": str(root)})  # fmt: skip
        log = run / "log.jsonl"
        losses = [json.loads(x)["loss"] for x in log.read_text().splitlines()] if log.is_file() else []
        result[name] = {"ran": True, "processes": procs, "returncode": done.returncode,
                        "seconds": round(time.time() - began, 1), "losses": [round(x, 4) for x in losses],
                        "final_written": (run / "final" / "meta.json").is_file(),
                        **({"stderr_tail": done.stderr[-1500:]} if done.returncode else {})}  # fmt: skip
    return result
