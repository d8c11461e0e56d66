"""The accelerate training loop, top to bottom: stage 1 aligns projectors (LM frozen, LoRA off), stage 2 tunes LoRA +
projectors on instruction data. Loss on answer tokens only. Exact resume from any step checkpoint."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.utils import DistributedType, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from emollm import __version__
from emollm.checkpoint import resolve_resume
from emollm.config import ConfigError, RunConfig, dump_config
from emollm.data.dataset import Collator, ModalityDropout
from emollm.data.sampling import EpochSampler, class_weight_table, class_weights_of
from emollm.encoders.cache import cached_encoders, flush_caches
from emollm.faults import kill_point
from emollm.io import atomic_write_json, atomic_write_text
from emollm.model.emollm import EmoLLM
from emollm.model.lm import setup_training_kernels
from emollm.precision import resolve_mixed_precision
from emollm.run_state import (
    RUN_IDENTITY,
    best_dev_loss,
    check_same_config,
    final_from_best,
    log_row,
    register_state_hooks,
    run_identity,
    save_final,
    save_step,
    setup_logging,
    trackers,
    truncate_log,
)
from emollm.train_data import training_sets

log = logging.getLogger("emollm.train")


def lr_at(step: int, stage_steps: int, peak: float, warmup_ratio: float) -> float:
    """Linear warmup to `peak`, then cosine decay to 10% of it, over one stage of `stage_steps` steps."""
    warmup = max(1, int(round(warmup_ratio * stage_steps))) if warmup_ratio > 0 else 0
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, stage_steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def stage_lrs(cfg: RunConfig, step: int) -> dict[str, float]:
    """Learning rate per parameter group at a global step; LoRA's is 0 during stage 1."""
    t = cfg.train
    if step < t.align_steps:
        return {"projectors": lr_at(step, t.align_steps, t.align_lr, t.warmup_ratio), "lora": 0.0}
    lr = lr_at(step - t.align_steps, t.steps, t.lr, t.warmup_ratio)
    return {"projectors": lr, "lora": lr}


def _micro_batches(
    loader: Any, sampler: EpochSampler, accelerator: Accelerator, start: int
) -> Iterator[dict]:
    """An endless stream of micro-batches, starting `start` micro-batches into the (epoch-seeded) data order."""
    per_epoch = len(loader)
    epoch, skip = divmod(start, per_epoch)
    while True:
        sampler.use_epoch(epoch)
        yield from accelerator.skip_first_batches(loader, skip) if skip else loader
        epoch, skip = epoch + 1, 0


@torch.no_grad()
def dev_loss(model: torch.nn.Module, loader: DataLoader, accelerator: Accelerator) -> float:
    """Token-weighted mean answer loss on the dev set, reduced over processes."""
    model.eval()
    total = torch.zeros(2, device=accelerator.device)
    for batch in loader:
        out = model(batch["input_ids"], batch["attention_mask"], batch["features"], batch["labels"])
        n = (batch["labels"][:, 1:] != -100).sum()
        total += torch.stack([out.loss.float() * n, n.float()])
    total = accelerator.reduce(total, "sum")
    model.train()
    return float(total[0] / total[1].clamp(min=1))


def _forget_previous_run_state() -> None:
    """In a single process, let a second `train()` (e.g. cross-corpus: one model per source corpus) choose its own
    mixed precision: accelerate keeps the first run's settings in a process-wide singleton otherwise."""
    from accelerate.state import AcceleratorState

    if int(os.environ.get("WORLD_SIZE", "1")) == 1 and AcceleratorState._shared_state:
        AcceleratorState._reset_state()


def train(cfg: RunConfig, resume: str | None = None) -> Path:
    """Train per `cfg`; return the final checkpoint folder. `resume`: None, "auto" or a step-checkpoint path."""
    t = cfg.train
    if t.keep_best and (not cfg.data.dev or t.eval_every <= 0):
        raise ConfigError("train.keep_best needs a dev split (data.dev) and train.eval_every > 0")
    kwargs = [DistributedDataParallelKwargs(find_unused_parameters=t.align_steps > 0)]
    _forget_previous_run_state()
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),
        mixed_precision=resolve_mixed_precision(t.mixed_precision),
        log_with=trackers(t.trackers) or None,
        project_dir=str(t.out_dir),
        kwargs_handlers=kwargs,
    )
    final = _run(cfg, accelerator, resume)
    _shut_down(accelerator)
    return final


def _shut_down(accelerator: Accelerator) -> None:
    """Drop every reference to the DDP model, then destroy the process group while the interpreter is alive.

    A gloo process group that is still referenced by a DDP reducer at interpreter exit can abort the process
    ("terminate called without an active exception") after a run that otherwise succeeded.
    """
    accelerator.free_memory()
    gc.collect()
    accelerator.wait_for_everyone()
    accelerator.end_training()


@dataclass
class Run:
    """Everything the loop needs, built once by `_setup`."""

    cfg: RunConfig
    accelerator: Accelerator
    run_dir: Path
    prepared: torch.nn.Module
    model: EmoLLM
    optimizer: torch.optim.Optimizer
    stream: Iterator[dict]
    dev_loader: DataLoader | None
    encoders: dict
    base_meta: dict[str, Any]
    start: int
    trainable: list[torch.nn.Parameter] = field(default_factory=list)
    class_weights: dict[str, float] = field(default_factory=dict)
    best_dev_loss: float = math.inf


def _run(cfg: RunConfig, accelerator: Accelerator, resume: str | None) -> Path:
    """The training run proper; every model, optimizer and loader it creates is released when it returns."""
    run = _setup(cfg, accelerator, resume)
    return run if isinstance(run, Path) else _loop(run)


def _start_run_dir(
    cfg: RunConfig, accelerator: Accelerator, resume: str | None
) -> tuple[Path, Path | None, bool]:
    """Create the run folder and its logging; (run folder, step checkpoint to resume from, already complete)."""
    t = cfg.train
    run_dir = Path(t.out_dir)
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    setup_logging(run_dir, accelerator.is_main_process)
    final_meta = run_dir / "final" / "meta.json"
    total = t.align_steps + t.steps
    if resume:
        check_same_config(run_dir, cfg, accelerator.num_processes)
    if resume == "auto" and final_meta.is_file() and json.loads(final_meta.read_text())["step"] == total:
        log.info("run %s is already complete (%d steps); nothing to do", run_dir, total)
        return run_dir, None, True
    resume_dir = resolve_resume(resume, run_dir)
    if not resume and (run_dir / "log.jsonl").exists():
        raise FileExistsError(
            f"{run_dir} already holds a run; pass --resume auto to continue it or choose another train.out_dir"
        )
    if accelerator.is_main_process:
        atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
        atomic_write_json(run_dir / RUN_IDENTITY, run_identity(cfg, accelerator.num_processes))
    return run_dir, resume_dir, False


def _train_loader(
    cfg: RunConfig, model: EmoLLM, train_ds: Any, encoders: dict, world: int
) -> tuple[DataLoader, EpochSampler]:
    """The shuffled training loader (epoch-seeded sampler, its own generator, optional modality dropout)."""
    t = cfg.train
    dropout = None
    if t.modality_dropout > 0:
        dropout = ModalityDropout(t.modality_dropout, model.tokenizer, model.template, model.tokens, model.labels,
                                  with_rationale=cfg.data.with_rationale)  # fmt: skip
    # The loader gets its own generator: creating an iterator must not draw from the global RNG, or dropout after a
    # resume would differ from an uninterrupted run.
    lengths = [len(ids) for ids in train_ds["input_ids"]] if t.group_by_length else None
    sampler = EpochSampler(len(train_ds), t.seed, lengths, t.batch_size * world)
    loader = DataLoader(
        train_ds,
        generator=torch.Generator().manual_seed(t.seed),
        batch_size=t.batch_size,
        sampler=sampler,
        collate_fn=Collator(encoders, model.tokenizer.pad_token_id, dropout),
        num_workers=t.num_workers,
        drop_last=len(train_ds) >= t.batch_size * world,
    )
    return loader, sampler


def _training_kernels(
    cfg: RunConfig, model: EmoLLM, train_ds: Any, accelerator: Accelerator
) -> dict[str, str]:
    """Frozen-weight dtype, attention (`train.attention`) and compilation (`train.compile`) for this run."""
    kernels = setup_training_kernels(model.lm, cfg.train, [len(x) for x in train_ds["input_ids"]],
                                     device_type=accelerator.device.type, processes=accelerator.num_processes,
                                     mixed_precision=accelerator.mixed_precision,
                                     quantized=cfg.lm.quantization != "none")  # fmt: skip
    log.info("while training: attention %s (train.attention: %s), compiled %s (train.compile: %s)",
             kernels["attention"], cfg.train.attention, kernels["compile"], cfg.train.compile)  # fmt: skip
    return kernels


PLAIN_DISTRIBUTED = (DistributedType.NO, DistributedType.MULTI_CPU, DistributedType.MULTI_GPU)


def adamw(groups: list, weight_decay: float, fused: bool, lr: float = 0.0) -> torch.optim.AdamW:
    """AdamW over `groups` (parameters or group dicts), with torch's fused kernel if `fused` (one kernel per step
    instead of a loop over ~400 LoRA tensors: 6 vs 36 ms a step on this CPU)."""
    # None rather than False when not fused: an explicit False would also turn off torch's foreach default on CUDA
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, fused=fused or None)


def fusable(accelerator: Accelerator) -> bool:
    """Whether the fused AdamW applies: CPU or CUDA, one process or DDP (DeepSpeed and FSDP manage the parameters)."""
    return accelerator.device.type in ("cpu", "cuda") and accelerator.distributed_type in PLAIN_DISTRIBUTED


def _setup(cfg: RunConfig, accelerator: Accelerator, resume: str | None) -> Run | Path:
    """Model, data, optimizer and (when resuming) restored state; the final folder when the run is complete."""
    t = cfg.train
    run_dir, resume_dir, complete = _start_run_dir(cfg, accelerator, resume)
    if complete:
        return run_dir / "final"
    set_seed(t.seed)
    model = EmoLLM.from_config(cfg, accelerator.device)
    counts = model.parameter_counts()
    log.info("parameters: %s trainable of %s total (%.3f%%)", f"{counts['trainable']:,}", f"{counts['total']:,}",
             100 * counts["trainable"] / counts["total"])  # fmt: skip
    encoders = cached_encoders(model.encoders, cfg.data.cache_dir, read_only=not accelerator.is_main_process)
    train_ds, dev_ds = training_sets(cfg, model, encoders, accelerator, run_dir)
    kernels = _training_kernels(cfg, model, train_ds, accelerator)
    loader, sampler = _train_loader(cfg, model, train_ds, encoders, accelerator.num_processes)
    groups = [
        {"params": list(model.projectors.parameters()), "name": "projectors"},
        {"params": [p for p in model.lm.parameters() if p.requires_grad], "name": "lora"},
    ]
    optimizer = adamw(groups, t.weight_decay, fusable(accelerator))
    prepared, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    collate = Collator(encoders, model.tokenizer.pad_token_id)
    dev_loader = (
        accelerator.prepare(DataLoader(dev_ds, batch_size=t.batch_size, collate_fn=collate))
        if dev_ds
        else None
    )
    unwrapped: EmoLLM = accelerator.unwrap_model(prepared)
    register_state_hooks(accelerator, unwrapped)
    start = 0
    if resume_dir is not None:
        accelerator.load_state(str(resume_dir / "state"))
        start = json.loads((resume_dir / "meta.json").read_text())["step"]
        if accelerator.is_main_process:
            truncate_log(run_dir, start)  # rows after the checkpoint are recomputed, not duplicated
        log.info("resumed from %s at step %d", resume_dir, start)
    total = t.align_steps + t.steps
    if trackers(t.trackers):
        accelerator.init_trackers("emollm", config={"steps": total, "batch_size": t.batch_size, "lr": t.lr})
    log.info("training %d steps (%d align + %d instruct) from step %d; %d examples, batch %d x %d accum x %d procs",
             total, t.align_steps, t.steps, start, len(train_ds), t.batch_size, t.grad_accum,
             accelerator.num_processes)  # fmt: skip
    meta = {
        "parameters": counts,
        "total_steps": total,
        "labels": list(model.labels),
        "emollm_version": __version__,
        **kernels,
    }
    table = class_weight_table(list(train_ds["emotion"]), t.class_weighting)
    if table:
        log.info(
            "class weights (%s): %s", t.class_weighting, {c: round(w, 3) for c, w in sorted(table.items())}
        )
    return Run(cfg, accelerator, run_dir, prepared, unwrapped, optimizer,
               _micro_batches(loader, sampler, accelerator, start * t.grad_accum),
               dev_loader, encoders, meta, start,
               [p for g in optimizer.param_groups for p in g["params"]], table,
               best_dev_loss(run_dir, start))  # fmt: skip


def _supervised_weight(batch: dict, weights: torch.Tensor | None) -> torch.Tensor:
    """The number of supervised target tokens of a batch (each weighted by its sample's class weight)."""
    per_row = (batch["labels"][:, 1:] != -100).sum(dim=1).float()
    return (per_row * weights).sum() if weights is not None else per_row.sum()


def _optimizer_step(run: Run, step: int) -> dict[str, Any]:
    """One optimizer step (grad accumulation, clipping); the step's log row. The loss is the mean over every
    supervised token of the step's global batch (all micro-batches, all processes), so N processes x batch b and
    grad accumulation give the same update as one process with the whole batch."""
    t, acc = run.cfg.train, run.accelerator
    stage = "align" if step < t.align_steps else "instruct"
    lrs = stage_lrs(run.cfg, step)
    for group in run.optimizer.param_groups:
        group["lr"] = lrs[group["name"]]
    batches = [next(run.stream) for _ in range(t.grad_accum)]
    weights = [
        class_weights_of(b["emotions"], run.class_weights) if run.class_weights else None for b in batches
    ]
    local = sum(_supervised_weight(b, w) for b, w in zip(batches, weights, strict=True)).to(acc.device)
    total = acc.reduce(local.clone(), "sum").clamp(min=1)
    loss_sum = torch.zeros((), device=acc.device)
    for micro, (batch, w) in enumerate(zip(batches, weights, strict=True)):
        sync = contextlib.nullcontext() if micro == t.grad_accum - 1 else acc.no_sync(run.prepared)
        adapters = run.model.lm.disable_adapter() if stage == "align" else contextlib.nullcontext()
        with (
            sync,
            adapters,
        ):  # backward inside too: activation checkpointing recomputes with the adapters as used
            with acc.autocast():
                out = run.prepared(batch["input_ids"], batch["attention_mask"], batch["features"], batch["labels"], w,
                                   reduction="sum")  # fmt: skip
                loss = out.loss * acc.num_processes / total  # DDP averages gradients over processes
            acc.backward(loss)
        loss_sum += out.loss.detach()
    if t.max_grad_norm > 0:
        acc.clip_grad_norm_(run.trainable, t.max_grad_norm)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    return {"step": step + 1, "stage": stage, "loss": (acc.reduce(loss_sum, "sum") / total).item(),
            "lr": lrs["lora" if stage == "instruct" else "projectors"]}  # fmt: skip


def _record(run: Run, row: dict[str, Any], total: int) -> None:
    """Write the step's row to the logs, the console and the trackers."""
    if run.accelerator.is_main_process:
        log_row(run.run_dir, row)
        done = row["step"]
        if done % run.cfg.train.log_every == 0 or done == total or "dev_loss" in row:
            dev = f" dev_loss {row['dev_loss']:.4f}" if "dev_loss" in row else ""
            log.info(
                "step %d/%d %s loss %.4f lr %.2e%s", done, total, row["stage"], row["loss"], row["lr"], dev
            )
    run.accelerator.log({k: v for k, v in row.items() if isinstance(v, float)}, step=row["step"])


def _loop(run: Run) -> Path:
    """Optimizer steps from `run.start` to the end (or `max_steps_per_run`), with logs and checkpoints."""
    t, acc = run.cfg.train, run.accelerator
    total = t.align_steps + t.steps
    run.prepared.train()
    began = time.time()
    bar = tqdm(
        total=total, initial=run.start, desc="train", disable=not acc.is_main_process, dynamic_ncols=True
    )
    for step in range(run.start, total):
        row = _optimizer_step(run, step)
        kill_point("train.step")
        done = row["step"]
        row["seconds"] = round(time.time() - began, 3)
        if run.dev_loader is not None and ((t.eval_every and done % t.eval_every == 0) or done == total):
            row["dev_loss"] = dev_loss(run.prepared, run.dev_loader, acc)
        bar.update(1)
        bar.set_postfix(loss=f"{row['loss']:.4f}", stage=row["stage"])
        _record(run, row, total)
        if "dev_loss" in row:
            _keep_if_best(run, row, done)
        kill_point("train.logged")
        meta = {**run.base_meta, "step": done, "stage": row["stage"]}
        stop_now = t.max_steps_per_run and done - run.start >= t.max_steps_per_run and done < total
        if done < total and ((t.save_every and done % t.save_every == 0) or stop_now):
            save_step(acc, run.model, run.run_dir, done, meta, t.keep_last)
        if stop_now:
            flush_caches(run.encoders)
            log.info("stopping after %d steps this run (train.max_steps_per_run); resume with --resume auto",
                     done - run.start)  # fmt: skip
            bar.close()
            return run.run_dir / f"step-{done:06d}"
    bar.close()
    flush_caches(run.encoders)
    final_meta = {**run.base_meta, "step": total, "stage": "instruct" if t.steps else "align",
                  "train_seconds": round(time.time() - began, 2)}  # fmt: skip
    if t.keep_best:
        final_from_best(acc, run.run_dir, final_meta)
    else:
        save_final(acc, run.model, run.run_dir, final_meta)
    return run.run_dir / "final"


def _keep_if_best(run: Run, row: dict[str, Any], done: int) -> None:
    """With train.keep_best, save the weights as run_dir/best when this dev loss is the lowest so far."""
    if run.cfg.train.keep_best and row["dev_loss"] < run.best_dev_loss:
        run.best_dev_loss = row["dev_loss"]
        meta = {**run.base_meta, "step": done, "stage": row["stage"], "dev_loss": row["dev_loss"]}
        save_final(run.accelerator, run.model, run.run_dir, meta, name="best")
