"""The training run's datasets: train (and dev) samples loaded, checked, encoded (cached) and tokenised."""

from __future__ import annotations

import logging
from pathlib import Path

from accelerate import Accelerator

from emollm.asr import transcriber_for
from emollm.config import RunConfig
from emollm.data.dataset import build_dataset
from emollm.data.prepass import feature_pass
from emollm.data.sample import load_samples
from emollm.io import atomic_write_json
from emollm.model.emollm import EmoLLM

log = logging.getLogger("emollm.train")


def training_sets(
    cfg: RunConfig, model: EmoLLM, encoders: dict, accelerator: Accelerator, run_dir: Path
) -> tuple:
    """Load, check and tokenise train (and dev) samples; fit input standardisation; report what was skipped."""
    labels = model.labels
    samples, bad = load_samples(cfg.data.train, labels, [cfg.data.media_root])
    if not samples:
        raise ValueError(f"{cfg.data.train}: no usable training samples ({len(bad)} bad records)")
    asr = transcriber_for(cfg.data.asr, cfg.data.cache_dir or run_dir / "cache")
    if asr is not None:
        samples = asr.fill(samples, show=accelerator.is_main_process)
    normalize = {m: mc.normalize for m, mc in cfg.modalities.items()}
    samples, bad_media = feature_pass(
        samples, encoders, model.projectors, normalize, seed=cfg.train.seed, show=accelerator.is_main_process
    )
    build = dict(
        tokenizer=model.tokenizer,
        template=model.template,
        tokens=model.tokens,
        labels=labels,
        max_length=cfg.data.max_length,
        cache_dir=run_dir / "cache",
        with_rationale=cfg.data.with_rationale,
    )
    with accelerator.main_process_first():
        train_ds, too_long = build_dataset(samples, **build) if samples else (None, [])
        dev_ds = None
        if cfg.data.dev:
            dev_samples, _ = load_samples(cfg.data.dev, labels, [cfg.data.media_root])
            dev_samples, _ = feature_pass(dev_samples, encoders, model.projectors, {}, show=False)
            dev_ds = build_dataset(dev_samples, **build)[0] if dev_samples else None
    report = [b.__dict__ for b in bad] + bad_media + too_long
    if report and accelerator.is_main_process:
        atomic_write_json(run_dir / "bad_samples.json", report)
        log.warning("%d training samples skipped; see %s", len(report), run_dir / "bad_samples.json")
    if train_ds is None or len(train_ds) == 0:
        raise ValueError(f"{cfg.data.train}: no usable training samples ({len(report)} skipped)")
    return train_ds, dev_ds
