"""Typed run configuration: defaults, then YAML, then CLI dotlist overrides (`train.lr=1e-4`), then validation."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MODALITIES = ("video", "audio", "sensor")


class ConfigError(ValueError):
    """A configuration value or key is wrong; the message names it."""


@dataclass
class LMConfig:
    """The language model and how it is adapted."""

    name_or_path: str = "HuggingFaceTB/SmolLM2-135M-Instruct"
    """Hub id or local folder of a causal LM (any LLaMA-style decoder)."""
    revision: str = ""
    """Hub revision (branch, tag or commit) to pin when name_or_path is a hub id; "" = the default branch."""
    dtype: str = "float32"
    """Weights dtype: float32 | bfloat16 | float16; with quantization also the compute dtype of the 4/8-bit layers
    (QLoRA's recipe is bfloat16: activations in bf16 halve a step's peak memory)."""
    quantization: str = "none"
    """none | 4bit (QLoRA, nf4) | 8bit: bitsandbytes quantisation of the frozen LM."""
    lora_r: int = 8
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA scaling numerator (scale = alpha / r)."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA input (0 by default: on CPU the dropout masks cost ~15% of a training step)."""
    lora_target: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    """Module names that get LoRA adapters (default: all attention and MLP linears), or ["all-linear"]."""
    lora_layers: int = 0
    """Adapt only the last N decoder layers (0 = all). Without trainable inputs below them (a text-only model), the
    backward pass stops at the lowest adapted layer: N = 20 of SmolLM2's 30 layers makes a step ~15% cheaper."""
    allow_packaged: bool = True
    """When a hub id is not in the local hub cache, use the copy carried by a PyPI wheel (see README)."""

    def __post_init__(self) -> None:
        _one_of("lm.dtype", self.dtype, ("float32", "bfloat16", "float16"))
        _one_of("lm.quantization", self.quantization, ("none", "4bit", "8bit"))
        _positive("lm.lora_r", self.lora_r)
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"lm.lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.lora_layers < 0:
            raise ConfigError(f"lm.lora_layers must be >= 0, got {self.lora_layers}")
        if not self.lora_target:
            raise ConfigError("lm.lora_target must name at least one module")


@dataclass
class ModalityConfig:
    """One input modality: its frozen encoder and its projector into the LM."""

    encoder: str = "precomputed"
    """Encoder builder name (see `emollm.encoders.ENCODERS`)."""
    encoder_args: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the encoder builder (e.g. {dim: 32})."""
    projector: str = "mlp2x_gelu"
    """Projector builder name: linear | mlp2x_gelu | resampler."""
    num_tokens: int = 4
    """LM tokens this modality occupies in the prompt (its placeholder expands to this many slots)."""
    normalize: bool = True
    """Standardise features per dimension with statistics fitted on the training set (stored in the checkpoint)."""
    frame_dropout: float = 0.0
    """Training only: probability of hiding each encoder frame before the projector pools (time masking)."""
    input_dropout: float = 0.0
    """Training only: dropout on the standardised features entering the projector."""

    def __post_init__(self) -> None:
        _positive("num_tokens", self.num_tokens)


@dataclass
class DataConfig:
    """Where the instruction data is and how prompts are built from it."""

    train: str = ""
    """Training JSONL (Sample records)."""
    dev: str = ""
    """Dev JSONL for periodic evaluation (optional)."""
    test: str = ""
    """Test JSONL (optional; used by quickstart and eval)."""
    labels: str = "synthetic4"
    """Label set name from `emollm.labels.LABEL_SETS`."""
    prompt: str = "emotion_default"
    """Prompt template name in prompts/ or a path to a YAML template."""
    max_length: int = 384
    """Longest tokenised example; longer ones are an error naming the sample."""
    with_rationale: bool = True
    """Train on 'label + rationale' answers (False: label only)."""
    cache_dir: str = ""
    """Feature cache root (filled by `emollm extract`); empty = encode media on the fly."""
    media_root: str = ""
    """A folder media paths may point into besides each JSONL file's own folder ("" = only that folder; paths that
    leave it with ../ or an absolute path are refused, so a hostile record cannot make emollm read other files)."""
    asr: str = ""
    """Audio encoder that transcribes (whisper_ct2) samples and chat inputs that have audio but no text; empty = off."""

    def __post_init__(self) -> None:
        _positive("data.max_length", self.max_length)


@dataclass
class TrainConfig:
    """The accelerate training loop: stage 1 aligns projectors, stage 2 tunes LoRA + projectors."""

    out_dir: str = "runs/train"
    """Run folder: checkpoints, logs and the resolved config go here."""
    seed: int = 0
    """Seed for model init, data order and dropout."""
    batch_size: int = 4
    """Examples per micro-batch per process."""
    grad_accum: int = 1
    """Micro-batches per optimizer step."""
    align_steps: int = 0
    """Stage 1 optimizer steps (projectors only, LM frozen, LoRA off)."""
    align_lr: float = 1e-3
    """Peak learning rate in stage 1."""
    steps: int = 100
    """Stage 2 optimizer steps (LoRA + projectors)."""
    lr: float = 2e-4
    """Peak learning rate in stage 2."""
    warmup_ratio: float = 0.05
    """Fraction of each stage spent in linear warmup before cosine decay."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 disables)."""
    mixed_precision: str = "auto"
    """auto (bf16 where it measures faster than fp32 here, else no) | no | bf16 (autocast) | fp16."""
    attention: str = "auto"
    """Attention kernel while training: auto | eager | sdpa. auto = eager on CPU when 95% of the training sequences
    have at most 256 tokens (a step measured 15-30% faster than with SDPA's CPU flash-attention backward at 60-120
    tokens, ~10% slower at 350), else the LM's default (SDPA). Inference always uses the LM's default."""
    compile: str = "auto"
    """torch.compile while training: auto | layers (each decoder layer) | decoder (the whole stack) | none. auto =
    layers for a single-process unquantized CPU run of >= 200 micro-batches with a C++ compiler on PATH (a shipped
    MELD step measured ~1.5x faster after ~1 min of compilation), else none."""
    log_every: int = 10
    """Optimizer steps between log lines."""
    eval_every: int = 0
    """Optimizer steps between dev-loss evaluations (0: only at the end)."""
    keep_best: bool = False
    """Make final/ the weights of the evaluation with the lowest dev loss (early stopping by checkpoint selection; the
    best so far is kept in best/, a loadable checkpoint). Needs data.dev and train.eval_every > 0."""
    save_every: int = 0
    """Optimizer steps between checkpoints (0: only the final one)."""
    keep_last: int = 2
    """Step checkpoints kept (older ones are deleted; final/ is always kept)."""
    modality_dropout: float = 0.0
    """Probability of hiding each present modality of a training sample (robustness to missing inputs)."""
    max_steps_per_run: int = 0
    """Stop cleanly after this many steps in this invocation (for time-sliced jobs); 0 = no limit."""
    num_workers: int = 0
    """DataLoader worker processes."""
    trackers: list[str] = field(default_factory=lambda: ["auto"])
    """Experiment trackers (accelerate's names: tensorboard, wandb, mlflow, ...; auto = tensorboard when installed;
    [] = none). TensorBoard writes into the run folder."""
    class_weighting: str = "none"
    """none | inverse | sqrt_inverse: weight each sample's answer loss by its class's inverse training frequency
    (or its square root), for UAR on imbalanced corpora such as MELD."""
    activation_checkpointing: bool = False
    """Recompute layer activations in the backward pass (less memory, ~1/3 more compute; with lm.quantization=4bit
    this is the QLoRA recipe)."""
    return_freed_memory: bool = False
    """Hand freed tensor memory back to the OS at once (glibc mmap threshold 64 KiB; CPU, Linux): the step's peak
    resident memory then follows the live tensors (the QLoRA step here 1.33 -> 0.75 GB) at some speed cost."""
    group_by_length: bool = True
    """Batch examples of similar length together (seeded pools of 16 global batches), so less padding is computed."""

    def __post_init__(self) -> None:
        _positive("train.batch_size", self.batch_size)
        _positive("train.grad_accum", self.grad_accum)
        if self.steps < 0 or self.align_steps < 0 or self.steps + self.align_steps == 0:
            raise ConfigError("train.steps + train.align_steps must be > 0 and neither negative")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"train.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        _one_of("train.mixed_precision", self.mixed_precision, ("auto", "no", "bf16", "fp16"))
        _one_of("train.attention", self.attention, ("auto", "eager", "sdpa"))
        _one_of("train.compile", self.compile, ("auto", "layers", "decoder", "none"))
        _positive("train.keep_last", self.keep_last)
        _one_of("train.class_weighting", self.class_weighting, ("none", "inverse", "sqrt_inverse"))
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ConfigError(f"train.modality_dropout must be in [0, 1), got {self.modality_dropout}")


@dataclass
class BaselineConfig:
    """The conventional fusion baselines (`emollm baseline`): optimisation and inputs, shared by every fusion."""

    epochs: int = 80
    """Most training epochs (early stopping on dev UAR, or mean CCC for regression, usually ends sooner)."""
    batch_size: int = 32
    """Examples per batch."""
    lr: float = 3e-3
    """AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    l2: float = 1e-3
    """L2 penalty (x the summed squared weights) of the `linear-<m>` logistic regression, fitted by L-BFGS."""
    patience: int = 15
    """Epochs without a better dev score before stopping."""
    seed: int = 0
    """Seed for initialisation, data order and the hold-out split."""
    class_weights: bool = False
    """Inverse-frequency class weights in the cross-entropy loss."""
    modality_dropout: float = 0.0
    """Probability of hiding each present modality of a training sample (at least one stays)."""
    per_speaker_norm: bool = False
    """Standardise each speaker's features with that speaker's own statistics (else training statistics)."""
    text_encoder: str = ""
    """Sentence encoder (hub id or path) giving the baselines a `text` modality; empty = no text."""
    task: str = "classification"
    """classification (emotion labels) or regression (valence and arousal, CCC loss)."""
    prior_adjustment: str = ""
    """Fit a label-prior adjustment on dev for this metric (weighted_f1, uar, macro_f1, accuracy); empty = none."""

    def __post_init__(self) -> None:
        _one_of(
            "baseline.prior_adjustment",
            self.prior_adjustment,
            ("", "weighted_f1", "uar", "macro_f1", "accuracy"),
        )
        _positive("baseline.epochs", self.epochs)
        _positive("baseline.batch_size", self.batch_size)
        _one_of("baseline.task", self.task, ("classification", "regression"))
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ConfigError(f"baseline.modality_dropout must be in [0, 1), got {self.modality_dropout}")


@dataclass
class RunConfig:
    """Everything one training run needs; saved resolved as config.yaml in every run and checkpoint folder."""

    lm: LMConfig = field(default_factory=LMConfig)
    """The language model and its adapters."""
    modalities: dict[str, ModalityConfig] = field(default_factory=dict)
    """Modality name (video | audio | sensor) -> its encoder and projector."""
    data: DataConfig = field(default_factory=DataConfig)
    """Instruction data, labels and prompt."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """The LLM training loop."""
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    """Settings of the fusion baselines trained on the same encoders and data (`emollm baseline`)."""

    def __post_init__(self) -> None:
        for name, mc in self.modalities.items():
            if name not in MODALITIES:
                raise ConfigError(f"unknown modality {name!r}; valid: {', '.join(MODALITIES)}")
            for key in ("frame_dropout", "input_dropout"):
                if not 0.0 <= getattr(mc, key) < 1.0:
                    raise ConfigError(f"modalities.{name}.{key} must be in [0, 1), got {getattr(mc, key)}")


def _one_of(key: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"{key} must be one of {', '.join(valid)}; got {value!r}")


def _positive(key: str, value: int) -> None:
    if value <= 0:
        raise ConfigError(f"{key} must be > 0, got {value}")


def to_dict(cfg: Any) -> Any:
    """Plain dict/list form of a config dataclass (for YAML and JSON)."""
    return dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else cfg


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build dataclass `cls` from a nested dict, rejecting unknown keys and wrong types with the key's path."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {where + '.' if where else ''}{close[0]}?)" if close else ""
            raise ConfigError(f"unknown config key {path!r}{hint}; valid keys: {', '.join(names)}")
        kwargs[key] = _coerce(hints[key], value, path)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from exc


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value or {}, path)
    if origin is dict:
        _, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{path} must be a mapping, got {value!r}")
        return {k: _coerce(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{path} must be a list, got {value!r}")
        return [_coerce(item_tp, v, path) for v in value]
    if origin in (typing.Union, types.UnionType):
        return value
    if tp is Any:
        return value
    if tp is float and isinstance(value, str):
        try:  # PyYAML (YAML 1.1) reads "1e-3" as a string
            return float(value)
        except ValueError:
            raise ConfigError(f"{path} must be a number (float), got {value!r}") from None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{path} must be true or false, got {value!r}")
    if tp in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"{path} must be a number ({tp.__name__}), got {value!r}")
    if tp is int and isinstance(value, float):
        if not value.is_integer():
            raise ConfigError(f"{path} must be an integer, got {value!r}")
        return int(value)
    if tp is str and isinstance(
        value, bool
    ):  # YAML 1.1 reads no/yes/off/on as booleans (mixed_precision: no)
        return "yes" if value else "no"
    if tp is str and not isinstance(value, str):
        raise ConfigError(f"{path} must be a string, got {value!r}")
    return value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (value parsed as YAML) onto a nested dict, in place, and return it."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.path=value")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        try:
            node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({problem})") from None
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults <- YAML file <- dotlist overrides, validated into a RunConfig."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    apply_overrides(data, overrides or [])
    return from_dict(RunConfig, data)


def dump_config(cfg: RunConfig) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a config dataclass: the string literal right after each field (the help text)."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, after in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
                docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def config_reference(cls: type = RunConfig, prefix: str = "") -> list[str]:
    """One line per config key: `section.key = default  help`, for `--help` and the docs."""
    lines = []
    docs = field_docs(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            lines += config_reference(type(value), f"{key}.")
        elif f.name == "modalities":
            lines.append(
                f"  {key}.<video|audio|sensor>.{{encoder, encoder_args, projector, num_tokens, normalize}}"
            )
        else:
            lines.append(f"  {key} = {value!r}  {docs.get(f.name, '')}".rstrip())
    return lines
