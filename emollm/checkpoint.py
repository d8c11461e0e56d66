"""Self-describing checkpoints: adapter/, projectors.safetensors, tokens.json, prompt.yaml, config.yaml, encoders.json,
meta.json and (for step checkpoints) accelerate's state/. Written atomically; loaded with safetensors only."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import save_file

from emollm.config import ConfigError, RunConfig, dump_config, from_dict
from emollm.encoders import build_encoder
from emollm.faults import kill_point
from emollm.io import atomic_write_json, atomic_write_text, check_safetensors, load_safetensors
from emollm.model.emollm import EmoLLM
from emollm.model.lm import load_lm
from emollm.model.projector import build_projectors
from emollm.model.tokens import add_placeholder_tokens
from emollm.prior_adjustment import read_prior_adjustment
from emollm.prompts import ModalityTokens, parse_template

log = logging.getLogger(__name__)

REQUIRED = (
    "adapter/adapter_config.json",
    "adapter/adapter_model.safetensors",
    "projectors.safetensors",
    "tokens.json",
    "prompt.yaml",
    "config.yaml",
    "encoders.json",
)
STEP_DIR = re.compile(r"^step-(\d+)$")


class CheckpointError(FileNotFoundError):
    """A checkpoint folder is missing, empty or incomplete; the message names what is wrong."""


def write_model_files(model: EmoLLM, folder: Path, meta: dict[str, Any]) -> None:
    """Write everything needed to rebuild `model` for inference into `folder` (which must exist)."""
    if model.merged:
        raise ValueError(
            "a model whose LoRA was merged for inference cannot be saved as a checkpoint; load it again"
        )
    model.lm.save_pretrained(folder / "adapter", save_embedding_layers=False)
    kill_point("checkpoint.adapter")  # half a checkpoint on disk
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in model.projectors.state_dict().items()},
        str(folder / "projectors.safetensors"),
    )
    atomic_write_json(folder / "tokens.json", {m: t.to_dict() for m, t in model.tokens.items()})
    atomic_write_text(folder / "prompt.yaml", model.template.to_yaml())
    atomic_write_text(folder / "config.yaml", dump_config(model.config))
    atomic_write_json(
        folder / "encoders.json",
        {
            m: {"name": e.name, "dim": e.dim, "fingerprint": e.fingerprint()}
            for m, e in model.encoders.items()
        },
    )
    atomic_write_json(folder / "meta.json", meta)


def check_checkpoint(folder: str | Path) -> Path:
    """Return the folder if it holds a complete checkpoint, else raise naming what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint not found: {folder}")
    if not any(folder.iterdir()):
        raise CheckpointError(f"checkpoint folder is empty: {folder}")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(f"incomplete checkpoint {folder}: missing {', '.join(missing)}")
    for name in REQUIRED:
        if name.endswith(".safetensors"):
            check_safetensors(folder / name)
    return folder


def load_checkpoint(
    folder: str | Path, device: torch.device | str = "cpu", merge: bool = False, precision: str = "no"
) -> EmoLLM:
    """Rebuild an EmoLLM for inference from a checkpoint folder (base LM + adapter + projectors); `merge`: fold the
    LoRA into the base weights (faster inference, see `EmoLLM.merge_adapters`); `precision`: auto | no | bf16 (see
    `EmoLLM.set_inference_precision`)."""
    from peft import PeftModel

    folder = check_checkpoint(folder)
    try:
        cfg = from_dict(RunConfig, yaml.safe_load((folder / "config.yaml").read_text()) or {})
    except ConfigError as exc:
        raise CheckpointError(f"{folder}/config.yaml: {exc}") from exc
    saved_tokens = {
        m: ModalityTokens(**t) for m, t in json.loads((folder / "tokens.json").read_text()).items()
    }
    lm, tokenizer, _ = load_lm(cfg.lm, device)
    tokens = add_placeholder_tokens(tokenizer, lm, {m: t.num_tokens for m, t in saved_tokens.items()})
    if tokens != saved_tokens:
        raise CheckpointError(
            f"{folder}: placeholder tokens {saved_tokens} differ from the rebuilt {tokens}; "
            f"the base LM or tokenizer is not the one this checkpoint was trained on"
        )
    lm = PeftModel.from_pretrained(lm, str(folder / "adapter"), is_trainable=False)
    encoders = {m: build_encoder(mc.encoder, m, **mc.encoder_args) for m, mc in cfg.modalities.items()}
    _check_fingerprints(folder, encoders)
    hidden = lm.get_input_embeddings().weight.shape[1]
    projectors = build_projectors(cfg.modalities, {m: e.dim for m, e in encoders.items()}, hidden)
    projectors.load_state_dict(load_safetensors(folder / "projectors.safetensors"), strict=True)
    template = parse_template(
        yaml.safe_load((folder / "prompt.yaml").read_text()), str(folder / "prompt.yaml")
    )
    model = EmoLLM(lm, tokenizer, projectors.to(device), encoders, tokens, template, cfg.data.labels, cfg)
    model.path = str(folder)
    model.prior_adjustment = read_prior_adjustment(folder)
    if model.prior_adjustment is not None:
        model.prior_adjustment.check_labels(model.labels, str(folder / "prior_adjustment.json"))
    model = model.merge_adapters() if merge else model
    model.set_inference_precision(precision)
    return model.eval()


def _check_fingerprints(folder: Path, encoders: dict[str, Any]) -> None:
    saved = json.loads((folder / "encoders.json").read_text())
    for modality, enc in encoders.items():
        want = saved.get(modality, {}).get("fingerprint")
        if want != enc.fingerprint():
            raise CheckpointError(
                f"{folder}: {modality} encoder fingerprint {enc.fingerprint()} != trained-with "
                f"{want}; its features would differ from training"
            )


def save_trainable(model: EmoLLM, path: Path) -> None:
    """Save the trainable weights (projectors + LoRA) of `model` as safetensors."""
    save_file({k: v.detach().cpu().contiguous() for k, v in model.trainable_state_dict().items()}, str(path))


def load_trainable(model: EmoLLM, path: Path) -> None:
    """Load trainable weights saved by `save_trainable`, insisting that the key sets match exactly."""
    state = load_safetensors(path)
    expected = set(model.trainable_state_dict())
    if set(state) != expected:
        missing, extra = sorted(expected - set(state))[:5], sorted(set(state) - expected)[:5]
        raise CheckpointError(
            f"{path}: trainable weights do not match the model (missing {missing}, extra {extra})"
        )
    model.load_state_dict(state, strict=False)


def step_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete step checkpoints in a run folder, oldest first (temporary, half-written folders are ignored)."""
    run_dir = Path(run_dir)
    found = []
    for child in run_dir.iterdir() if run_dir.is_dir() else []:
        match = STEP_DIR.match(child.name)
        if match and (child / "state").is_dir() and (child / "meta.json").is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def resolve_resume(resume: str | None, run_dir: Path) -> Path | None:
    """`auto` -> the latest complete step checkpoint in the run folder (or None); a path -> that checkpoint."""
    if not resume:
        return None
    if resume == "auto":
        steps = step_checkpoints(run_dir)
        return steps[-1][1] if steps else None
    folder = Path(resume)
    if not (folder / "state").is_dir() or not (folder / "meta.json").is_file():
        raise CheckpointError(
            f"cannot resume from {folder}: not a complete step checkpoint (needs state/, meta.json)"
        )
    return folder


def prune_steps(run_dir: Path, keep_last: int) -> None:
    """Delete all but the newest `keep_last` step checkpoints."""
    for _, folder in step_checkpoints(run_dir)[:-keep_last]:
        shutil.rmtree(folder, ignore_errors=True)
