"""Training and inference throughput of SmolLM2-135M-Instruct + LoRA on MELD text, measured in one process.

Used by `benchmarks/run.py`; run alone as `python benchmarks/throughput.py --memory fp32|4bit` it reports the peak
resident memory of LoRA training steps in a fresh process (the QLoRA memory comparison needs one process each).

FLOPs counted (frozen base + LoRA): every non-padding token costs 2 N_body in the forward pass and 2 N_body for the
activation gradients in the backward pass (a frozen weight needs no weight gradient), so 4 N_body per token, where
N_body is the parameter count of the decoder's matrices (embedding lookup excluded, LoRA's own 2 x r x (in + out)
per adapted matrix added); the LM head (2 x hidden x vocab, tied to the embeddings) is counted 4x only at the
positions whose next token is supervised, which is where the shipped loop applies it. Attention's score/value
products (4 L^2 H per layer) are left out. The same count is used for both loops, so the ratio of FLOP/s equals the
ratio of useful work per second.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emollm.config import load_config  # noqa: E402
from emollm.cues import describe, text_cues  # noqa: E402
from emollm.data.dataset import Collator, build_dataset  # noqa: E402
from emollm.data.recipes import recipe  # noqa: E402
from emollm.data.sample import Sample, load_samples  # noqa: E402
from emollm.data.sampling import EpochSampler  # noqa: E402
from emollm.generate import generate_answers, score_labels  # noqa: E402
from emollm.labels import get_labels  # noqa: E402
from emollm.model.emollm import EmoLLM  # noqa: E402
from emollm.model.lm import setup_training_kernels  # noqa: E402
from emollm.parse import parse_answer  # noqa: E402
from emollm.precision import resolve_mixed_precision  # noqa: E402
from emollm.train import adamw  # noqa: E402

LM = "HuggingFaceTB/SmolLM2-135M-Instruct"
# The loop as it was before this benchmark existed (emollm 0.1 defaults), and the recipe shipped now.
LEGACY = [
    "data.prompt=emotion_default",
    "lm.lora_dropout=0.05",
    "train.group_by_length=false",
    "train.attention=sdpa",
    "train.compile=none",
]
SHIPPED = ["data.prompt=emotion_compact", "lm.lora_dropout=0.0", "train.group_by_length=true"]


def peak_gflops(dtype: str, n: int = 1536, repeats: int = 20, rounds: int = 3) -> float:
    """Matmul GFLOP/s of an `[n, n] x [n, n]` product on this machine (fp32, or bf16 under autocast): the best of
    `rounds` timings of `repeats` products each (a single short timing read 268-726 bf16 GFLOP/s here)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = 0.0
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
        F.linear(a, b)
        for _ in range(rounds):
            began = time.perf_counter()
            for _ in range(repeats):
                F.linear(a, b)
            best = max(best, 2 * n**3 * repeats / (time.perf_counter() - began) / 1e9)
    return best


def meld_split(out: Path, split: str = "train") -> Path:
    """MELD converted from $EMOLLM_DATA_DIR (default ../shared/data) into `out`, or the generated corpus's text."""
    root = Path(os.environ.get("EMOLLM_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if (root / "meld").is_dir():
        if not (out / f"{split}.jsonl").is_file():
            recipe("meld")(root=str(root), out=str(out), seed=0)
        return out / f"{split}.jsonl"
    from emollm.data.synthetic import SyntheticSpec, generate

    if not (out / "manifest.json").is_file():  # no MELD here: the generated corpus's transcripts, text only
        generate(out, SyntheticSpec(n_train=480, seed=0))
        for name in ("train", "dev", "test"):
            rows = [json.loads(x) for x in (out / f"{name}.jsonl").read_text().splitlines()]
            (out / f"{name}.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "media"}) + "\n"
                                                       for r in rows))  # fmt: skip
    return out / f"{split}.jsonl"


def label_set_of(data: Path) -> str:
    """The label set named by a converted corpus's manifest."""
    return json.loads(data.with_name("manifest.json").read_text()).get("label_set", "synthetic4")


def config(variant: list[str], data: Path, labels: str, extra: list[str] = ()) -> Any:
    """A text-only SmolLM2 LoRA config for one loop variant."""
    return load_config(None, [f"lm.name_or_path={LM}", f"data.train={data}", f"data.labels={labels}",
                              "data.with_rationale=false", "data.max_length=512", *variant, *extra])  # fmt: skip


def body_params(model: EmoLLM) -> tuple[int, int]:
    """(decoder matrix parameters incl. LoRA, LM-head parameters) for the FLOP count."""
    base = model.lm.get_base_model()
    head = base.get_output_embeddings().weight.numel()
    body = sum(
        p.numel() for n, p in base.get_decoder().named_parameters() if p.dim() == 2 and "embed" not in n
    )
    return body, head


def _batches(model: EmoLLM, samples: list[Sample], batch: int, grouped: bool) -> list[dict]:
    ds, _ = build_dataset(samples, model.tokenizer, model.template, model.tokens, model.labels, 512)
    lengths = [len(x) for x in ds["input_ids"]] if grouped else None
    order = list(EpochSampler(len(ds), 0, lengths, batch))
    collate = Collator(model.encoders, model.tokenizer.pad_token_id)
    return [collate([ds[i] for i in order[j : j + batch]]) for j in range(0, len(order) - batch + 1, batch)]


def _legacy_loss(model: EmoLLM, b: dict) -> torch.Tensor:
    """The loss as emollm 0.1 computed it: transformers' causal-LM loss over logits at every position."""
    embeds = model.embed(b["input_ids"], b["features"])
    return model.lm(inputs_embeds=embeds, attention_mask=b["attention_mask"], labels=b["labels"]).loss


def train_steps(
    model: EmoLLM, batches: list[dict], legacy: bool, precision: str, lr: float = 1e-4
) -> dict[str, float]:
    """Time optimizer steps over `batches` (the first one is a warm-up); tokens, samples and FLOP/s."""
    # the shipped loop's optimizer (fused on one CPU process), the first loop's per-tensor AdamW
    opt = adamw([p for p in model.parameters() if p.requires_grad], 0.01, fused=not legacy, lr=lr)
    body, head = body_params(model)
    model.train()
    seconds = tokens = samples = flops = 0.0
    for i, b in enumerate(batches):
        began = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = _legacy_loss(model, b) if legacy else model(b["input_ids"], b["attention_mask"], b["features"],
                                                                b["labels"]).loss  # fmt: skip
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i:
            seconds += time.perf_counter() - began
            real, supervised = int(b["attention_mask"].sum()), int((b["labels"][:, 1:] != -100).sum())
            tokens, samples = tokens + real, samples + len(b["ids"])
            flops += 4 * body * real + 4 * head * supervised
    return {"s_per_step": seconds / (len(batches) - 1), "tokens_per_s": tokens / seconds,
            "samples_per_s": samples / seconds, "gflops": flops / seconds / 1e9,
            "padding": 1 - tokens / sum(int(b["input_ids"].numel()) for b in batches[1:])}  # fmt: skip


def training(data: Path, n_batches: int, batch: int = 8) -> dict[str, Any]:
    """The legacy and the shipped loop on the same samples, with MFU against this run's matmul peak, and the shipped
    loop without compilation, with SDPA, with the whole LM in bf16 and (where bf16 is the best dtype) in fp32, for
    the A/B ratios."""
    labels = label_set_of(data)
    samples, _ = load_samples(data, get_labels(labels))
    chosen = random.Random(0).sample(samples, batch * n_batches)
    precision = resolve_mixed_precision("auto")
    result: dict[str, Any] = {"peak_gflops": {d: round(peak_gflops(d), 1) for d in ("fp32", "bf16")},
                              "best_dtype": "bf16" if precision == "bf16" else "fp32", "batch": batch}  # fmt: skip
    uncompiled = [*SHIPPED, "train.compile=none"]
    # (name, config overrides, legacy loss, mixed precision)
    runs = [("legacy", LEGACY, True, "no"), ("shipped", SHIPPED, False, precision),
            ("shipped_uncompiled", uncompiled, False, precision),
            ("shipped_uncompiled_sdpa", [*uncompiled, "train.attention=sdpa"], False, precision)]  # fmt: skip
    if precision == "bf16":
        # the whole LM stored in bf16 (residual stream too): faster, numerics not the same
        runs.append(("bf16_weights", [*uncompiled, "lm.dtype=bfloat16"], False, precision))
        # the shipped loop in fp32 (`train.mixed_precision: no`), its MFU against the fp32 peak
        runs.append(("shipped_fp32", SHIPPED, False, "no"))
    for name, variant, legacy, run_precision in runs:
        result[name] = _timed_run(variant, legacy, run_precision, data, labels, chosen, batch, len(samples))
        peak = result["peak_gflops"]["bf16" if run_precision == "bf16" else "fp32"]
        result[name]["mfu"] = result[name]["gflops"] / peak
    return result


def _timed_run(
    variant: list[str],
    legacy: bool,
    precision: str,
    data: Path,
    labels: str,
    chosen: list[Sample],
    batch: int,
    n_train: int,
) -> dict[str, Any]:
    """One loop variant built, prepared and compiled as `emollm train` would for one epoch of `n_train` samples,
    then timed on `chosen` (compilation outside the timing)."""
    torch.manual_seed(0)
    cfg = config(variant, data, labels, [f"train.steps={n_train // batch}"])
    model = EmoLLM.from_config(cfg)
    batches = _batches(model, chosen, batch, grouped=not legacy)
    lengths = [int(row.sum()) for b in batches for row in b["attention_mask"]]
    began = time.perf_counter()
    kernels = setup_training_kernels(model.lm, cfg.train, lengths, device_type="cpu", processes=1,
                                     mixed_precision=precision, quantized=False)  # fmt: skip
    if kernels["compile"] != "none":  # compile on two batches first, outside the timing
        train_steps(model, batches[:2], legacy, precision)
    warm_s = time.perf_counter() - began
    timing = {**train_steps(model, batches, legacy, precision), **kernels}
    if kernels["compile"] != "none":  # the two warm-up steps less two timed steps' worth
        timing["compile_s"] = warm_s - 2 * timing["s_per_step"]
    timing["mean_tokens_per_sample"] = timing["tokens_per_s"] / timing["samples_per_s"]
    return timing


def fit_briefly(model: EmoLLM, data: Path, steps: int, batch: int = 8, rationale: bool = False) -> None:
    """A short fine-tune (lr 1e-3) so the model answers in a trained format before inference is timed: label-only
    answers, or (`rationale`) the label plus a cue-grounded rationale of the transcript's emotion words, as the
    project's default answer format has; generation then stops where such answers end."""
    samples, _ = load_samples(data, model.labels)
    chosen = random.Random(2).sample(samples, batch * (steps + 1))
    for s in chosen:
        s.rationale = (
            describe({"text": text_cues(s.text)} if text_cues(s.text) else {}) if rationale else None
        )
    train_steps(model, _batches(model, chosen, batch, grouped=True), legacy=False, precision="no", lr=1e-3)


def inference(
    model: EmoLLM, test: Path, n: int, batch: int = 8, max_new_tokens: int = 64, min_new_tokens: int = 0
) -> dict[str, Any]:
    """Label scoring vs free generation per sample on the same test samples (the model as trained above, in its
    inference precision), with the mean number of tokens generated; `min_new_tokens` makes every answer at least
    that long."""
    samples, _ = load_samples(test, model.labels)
    chosen = random.Random(1).sample(samples, n)
    (
        score_labels(model, chosen[:2]),
        generate_answers(model, chosen[:2], 2),
    )  # first-call costs stay out of the timing
    out: dict[str, Any] = {"precision": model.inference_precision}
    for mode in ("score", "generate"):
        began, preds, new_tokens = time.perf_counter(), [], 0
        for i in range(0, n, batch):
            part = chosen[i : i + batch]
            if mode == "score":
                preds += [model.labels[int(p.argmax())] for p in score_labels(model, part)]
            else:
                answers = generate_answers(model, part, max_new_tokens, min_new_tokens=min_new_tokens)
                preds += [parse_answer(a, model.labels, model.label_set).label for a in answers]
                new_tokens += sum(
                    len(model.tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers
                )
        out[mode] = {"s_per_sample": (time.perf_counter() - began) / n,
                     "accuracy": sum(p == s.emotion for p, s in zip(preds, chosen, strict=True)) / n, "preds": preds}  # fmt: skip
    out["generate"]["mean_new_tokens"] = new_tokens / n
    agree = (
        sum(a == b for a, b in zip(out["score"].pop("preds"), out["generate"].pop("preds"), strict=True)) / n
    )
    return {
        **out,
        "agreement": agree,
        "n": n,
        "max_new_tokens": max_new_tokens,
        "min_new_tokens": min_new_tokens,
    }


def full_answer_tokens(model: EmoLLM, out: Path, n: int = 64) -> int:
    """Mean token length of the default answer format (label + a rationale citing face, voice and physiology) over
    the generated tri-modal corpus's training answers: how long an answer about all inputs is."""
    from emollm.data.synthetic import SyntheticSpec, generate

    if not (out / "train.jsonl").is_file():
        generate(out, SyntheticSpec(n_train=n, seed=0))
    rows = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    answers = [model.template.format_answer(r["labels"]["emotion"], r["rationale"]) for r in rows]
    return round(
        sum(len(model.tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers) / len(answers)
    )


def _memory() -> tuple[int, int]:
    """(VmRSS, RssAnon) in bytes: all resident pages, and the anonymous ones alone (without file-backed pages such
    as shared libraries and memory-mapped weight files)."""
    with open("/proc/self/status") as fh:
        fields = dict(line.split(":", 1) for line in fh if line.startswith(("VmRSS", "RssAnon")))
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["RssAnon"].split()[0]) * 1024


def memory_child(
    quantization: str,
    checkpointing: bool,
    steps: int = 3,
    compute: str = "float32",
    return_freed: bool = False,
) -> dict[str, Any]:
    """Peak anonymous resident memory while training LoRA steps, with every weight copied into anonymous memory
    (transformers memory-maps a safetensors file, so fp32 weights would otherwise hide among file pages while a
    quantized model keeps stale pages of the file it was quantized from) and freed load-time memory returned."""
    with tempfile.TemporaryDirectory() as tmp:
        data = meld_split(Path(tmp) / "meld")
        labels = label_set_of(data)
        extra = [f"lm.quantization={'none' if quantization == 'fp32' else '4bit'}", f"lm.dtype={compute}",
                 f"train.activation_checkpointing={str(checkpointing).lower()}",
                 f"train.return_freed_memory={str(return_freed).lower()}"]  # fmt: skip
        cfg = config(SHIPPED, data, labels, extra)
        model = EmoLLM.from_config(cfg)
        samples, _ = load_samples(data, model.labels)
        batches = _batches(model, samples[: 8 * (steps + 1)], 8, grouped=True)
    with (
        torch.no_grad()
    ):  # weights into anonymous memory in both cases: transformers memory-maps fp32 weights
        for t in [*model.parameters(), *model.buffers()]:
            t.data = t.data.clone()
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    baseline, peak, stop = _memory(), [0, 0], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[:] = [max(p, now) for p, now in zip(peak, _memory(), strict=True)]
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    timing = train_steps(model, batches, legacy=False, precision="no")
    stop.set()
    thread.join()
    return {
        "quantization": quantization,
        "compute_dtype": compute,
        "activation_checkpointing": checkpointing,
        "return_freed_memory": return_freed,
        "s_per_step": timing["s_per_step"],
        "rss_after_load_gb": baseline[0] / 1e9,
        "anon_after_load_gb": baseline[1] / 1e9,
        "step_peak_rss_gb": peak[0] / 1e9,
        "step_peak_anon_gb": peak[1] / 1e9,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--memory", choices=["fp32", "4bit"], required=True)
    ap.add_argument("--checkpointing", action="store_true")
    ap.add_argument("--compute", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--return-freed", action="store_true")
    args = ap.parse_args()
    print(json.dumps(memory_child(args.memory, args.checkpointing, compute=args.compute,
                                  return_freed=args.return_freed)))  # fmt: skip
