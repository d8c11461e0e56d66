"""One JSON object of speed and memory ratios, each measured within this one run (so machine noise cancels):

    python benchmarks/run.py [--quick] [--json] [--out runs/bench]

- `mfu`: training FLOP/s of SmolLM2-135M + LoRA on MELD text (FLOPs as counted in `benchmarks/throughput.py`:
  4 N_body per non-padding token, the LM head only where the loss is read) / the matmul peak measured in this run,
  in the best dtype here (`train.mixed_precision: auto`; under bf16 autocast `emollm train` stores the frozen decoder
  linears in bf16 once, as measured here); `legacy_mfu` the same for the emollm 0.1 loop; `mfu_bf16_weights` the
  whole LM stored in bf16 (`lm.dtype=bfloat16`: the residual stream and norms in bf16 too, so not the same numerics).
  Where bf16 is the best dtype, `mfu_fp32` is the shipped loop (compiled alike) in fp32 against the fp32 peak
  measured in this run, and `bf16_speedup` the shipped loop's tokens/s in bf16 / in fp32: a higher fraction of a
  lower peak is not the faster loop, so `mfu` is read in the dtype that trains faster.
- `compile_speedup`: the shipped loop's tokens/s with `train.compile: auto` (each decoder layer compiled with
  torch.compile where a MELD epoch is long enough to pay for it; compilation itself is outside the timing and
  reported as `details.training.shipped.compile_s`) / the same loop uncompiled.
- `attention_speedup`: the uncompiled shipped loop's tokens/s with the attention `train.attention: auto` picks (eager
  on CPU for short sequences) / the same with SDPA (whose CPU flash-attention backward is slow at ~60 tokens).
- `tokens_per_s_ratio` / `samples_per_s_ratio`: the shipped recipe (emotion_compact prompt, LM head only at
  supervised positions, no LoRA dropout, length-grouped batches, auto precision, auto attention, auto compilation)
  / the emollm 0.1 default loop (emotion_default prompt, logits at every position, LoRA dropout 0.05, random
  batches, fp32, SDPA), same samples, batch 8.
  Tokens are the non-padding tokens each loop feeds the model; the shorter prompt needs fewer per sample, so
  samples/s is the figure that says how much sooner an epoch ends.
- `scoring_speedup`: free generation (64 new tokens at most) / label scoring, seconds per sample, same samples, with
  both modes' accuracy and agreement, after a short fine-tune of the shipped model on answers with a rationale (the
  default answer format); `scoring_speedup_label_only` the same for a model trained on label-only answers, whose
  generation stops after ~4 tokens, so label scoring saves little there; `scoring_speedup_full_answer` the same with
  every generated answer held to the mean token length of the default format's answer about all inputs (label +
  rationale citing face, voice and physiology, as the generated tri-modal corpus's answers are), i.e. what label
  scoring saves where the model would write such an answer. All with the LoRA merged into the base weights and in
  the inference precision `emollm.load` picks (`auto`: bf16 autocast with bf16 decoder linears and LM head where
  the CPU multiplies bf16 natively, else fp32); `details.inference*` hold each mode's accuracy, agreement and mean
  tokens generated, and the precision.
- `scoring_speedup_fp32`: `scoring_speedup` with the same model in fp32 (`--precision no`);
  `inference_precision_speedup`: fp32 / the shipped precision, seconds per sample of scoring + generation together.
- `cache_speedup`: a training step encoding media on the fly / reading the feature cache (tiny LM, FER2013 +
  Whisper + physio, `benchmarks/encoders.py`).
- `qlora_memory_ratio`: peak anonymous resident memory of QLoRA steps (the QLoRA paper's recipe: 4-bit nf4 base,
  bf16 compute where this hardware has it, activation checkpointing) / fp32 LoRA steps (the default), each in a fresh
  process, both with `train.return_freed_memory=true` (freed tensors leave the process at once, so the peak is the
  live tensors' and not glibc's retained free lists); `qlora_recipe_vs_default_memory_ratio`: the QLoRA preset
  (`configs/smollm2_qlora4.yaml`, which sets it) / fp32 LoRA with the default allocator, what a user switching
  presets sees; `qlora_memory_ratio_default_allocator`: both with the default allocator;
  `return_freed_memory_step_time_ratio`: fp32 step time with / without it (its cost: more page faults);
  `qlora_4bit_only_memory_ratio`: 4-bit with fp32 compute, no checkpointing, default allocator / fp32 (what
  quantization alone saves: at 135 M parameters the activations, not the weights, dominate a step's peak).
`--quick` measures fewer steps and samples (under 5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import encoders as encoder_bench  # noqa: E402
import throughput  # noqa: E402

from emollm.testing import make_tiny_lm  # noqa: E402


def qlora_ratio() -> dict:
    """Step peaks of fp32 LoRA (the default), the QLoRA recipe (4-bit + activation checkpointing) and 4-bit alone,
    with and without freed memory returned at once, each in its own process (anonymous memory, weights copied into it; see `throughput.memory_child`)."""
    script = Path(__file__).resolve().parent / "throughput.py"
    runs = {}
    compute = "bfloat16" if throughput.resolve_mixed_precision("auto") == "bf16" else "float32"
    qlora = ["4bit", "--checkpointing", "--compute", compute]
    for name, args in (("fp32", ["fp32"]), ("fp32_return_freed", ["fp32", "--return-freed"]),
                       ("qlora", [*qlora, "--return-freed"]), ("qlora_default_allocator", qlora),
                       ("4bit", ["4bit"])):  # fmt: skip
        cmd = [sys.executable, str(script), "--memory", *args]
        runs[name] = json.loads(
            subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1]
        )
    peak = {k: v["step_peak_anon_gb"] for k, v in runs.items()}
    return {
        **runs,
        "ratio": peak["qlora"] / peak["fp32_return_freed"],
        "recipe_vs_default_ratio": peak["qlora"] / peak["fp32"],
        "default_allocator_ratio": peak["qlora_default_allocator"] / peak["fp32"],
        "weights_only_ratio": peak["4bit"] / peak["fp32"],
        "return_freed_step_time_ratio": runs["fp32_return_freed"]["s_per_step"] / runs["fp32"]["s_per_step"],
    }


def cache_ratio(out: Path, clips: int, steps: int) -> dict:
    """Seconds per step with encoders on the fly vs cached features."""
    data = encoder_bench.build_corpus(out / "clips", clips)
    times = encoder_bench.step_times(data, out, make_tiny_lm(out / "tiny_lm", hidden=64), steps)
    return {**times, "ratio": times["on_the_fly"] / times["cached"]}


def inference_runs(train_file: Path, out: Path, quick: bool) -> dict:
    """Scoring vs generation after a short fine-tune: label-only answers, rationale answers (shipped precision and
    fp32) and answers held to the default format's full length."""
    (steps, n), test = ((12, 16) if quick else (30, 48)), train_file.with_name("test.jsonl")
    shipped = throughput.config(throughput.SHIPPED, train_file, throughput.label_set_of(train_file))
    inference = {}
    for name, rationale in (("label_only", False), ("rationale", True)):
        model = throughput.EmoLLM.from_config(shipped)
        throughput.fit_briefly(model, train_file, steps, rationale=rationale)
        merged = model.merge_adapters()
        if rationale:  # the same answers in fp32, before the shipped precision converts the weights
            inference["rationale_fp32"] = throughput.inference(merged, test, n)
        merged.set_inference_precision("auto")  # as `emollm.load` and `emollm eval` do
        inference[name] = throughput.inference(merged, test, n)
        if rationale:  # answers as long as the default format's answer about face, voice and physiology
            length = throughput.full_answer_tokens(merged, out / "generated")
            inference["full_answer"] = throughput.inference(merged, test, n, max_new_tokens=length,
                                                            min_new_tokens=length)  # fmt: skip
        del model, merged
    return inference


def _speedup(slow: dict, fast: dict, key: str = "s_per_sample") -> float:
    """slow[key] / fast[key] for seconds, rounded to 2 decimals."""
    return round(slow[key] / fast[key], 2)


def _throughput(fast: dict, slow: dict, key: str = "tokens_per_s") -> float:
    """fast[key] / slow[key] for rates, rounded to 2 decimals."""
    return round(fast[key] / slow[key], 2)


def ratios(train: dict, inference: dict, cache: dict, memory: dict) -> dict:
    """The headline ratios of one run, in the order the JSON prints them."""
    label_only, infer, full = inference["label_only"], inference["rationale"], inference["full_answer"]
    fp32 = inference["rationale_fp32"]
    result = {"mfu": round(train["shipped"]["mfu"], 3), "legacy_mfu": round(train["legacy"]["mfu"], 3)}
    if "bf16_weights" in train:
        result["mfu_bf16_weights"] = round(train["bf16_weights"]["mfu"], 3)
    if "shipped_fp32" in train:
        result["mfu_fp32"] = round(train["shipped_fp32"]["mfu"], 3)
        result["bf16_speedup"] = _throughput(train["shipped"], train["shipped_fp32"])
    both = {name: run["generate"]["s_per_sample"] + run["score"]["s_per_sample"] for name, run in
            (("fp32", fp32), ("shipped", infer))}  # fmt: skip
    return {
        **result,
        "compile_speedup": _throughput(train["shipped"], train["shipped_uncompiled"]),
        "attention_speedup": _throughput(train["shipped_uncompiled"], train["shipped_uncompiled_sdpa"]),
        "tokens_per_s_ratio": _throughput(train["shipped"], train["legacy"]),
        "samples_per_s_ratio": _throughput(train["shipped"], train["legacy"], "samples_per_s"),
        "scoring_speedup": _speedup(infer["generate"], infer["score"]),
        "scoring_speedup_fp32": _speedup(fp32["generate"], fp32["score"]),
        "inference_precision_speedup": round(both["fp32"] / both["shipped"], 2),
        "scoring_speedup_label_only": _speedup(label_only["generate"], label_only["score"]),
        "scoring_speedup_full_answer": _speedup(full["generate"], full["score"]),
        "cache_speedup": round(cache["ratio"], 1),
        "qlora_memory_ratio": round(memory["ratio"], 3),
        "qlora_recipe_vs_default_memory_ratio": round(memory["recipe_vs_default_ratio"], 3),
        "qlora_memory_ratio_default_allocator": round(memory["default_allocator_ratio"], 3),
        "qlora_4bit_only_memory_ratio": round(memory["weights_only_ratio"], 3),
        "return_freed_memory_step_time_ratio": round(memory["return_freed_step_time_ratio"], 3),
    }


def main() -> None:
    """Measure everything and print the JSON object (and a short summary unless --json)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true", help="print only the JSON object")
    ap.add_argument("--out", default="runs/bench")
    args = ap.parse_args()
    began, out = time.time(), Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    train_file = throughput.meld_split(out / "meld")
    train = throughput.training(train_file, n_batches=4 if args.quick else 10)
    inference = inference_runs(train_file, out, args.quick)
    cache = cache_ratio(out / "cache", clips=6 if args.quick else 12, steps=4 if args.quick else 6)
    memory = qlora_ratio()
    details = {
        "training": train,
        "inference": inference["rationale"],
        "inference_fp32": inference["rationale_fp32"],
        "inference_label_only": inference["label_only"],
        "inference_full_answer": inference["full_answer"],
        "cache": cache,
        "memory": memory,
        "quick": args.quick,
        "seconds": round(time.time() - began, 1),
    }
    text = json.dumps(
        {**ratios(train, inference, cache, memory), "details": details}, indent=2, default=float
    )
    (out / "benchmark.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
