"""EmoLLM: frozen encoders -> per-modality projectors -> placeholder slots of a LoRA-tuned causal LM."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers.modeling_outputs import CausalLMOutput

from emollm import generate
from emollm.config import RunConfig, dump_config
from emollm.encoders import Encoder, build_encoder
from emollm.encoders.base import Features
from emollm.labels import get_labels
from emollm.model.lm import (
    apply_lora,
    base_model,
    enable_activation_checkpointing,
    load_lm,
    lower_for_inference,
)
from emollm.model.projector import build_projectors
from emollm.model.tokens import add_placeholder_tokens
from emollm.precision import resolve_inference_precision, return_freed_memory
from emollm.prior_adjustment import PriorAdjustment
from emollm.prompts import ModalityTokens, PromptTemplate, load_template

log = logging.getLogger(__name__)
IGNORE_INDEX = -100


class EmoLLM(nn.Module):
    """A multimodal emotion LLM: frozen encoders, learned projectors, and a causal LM with LoRA adapters.

    Each present modality's features `[B_m, T, D]` are projected to `N` tokens `[B_m, N, H]` and written into the
    `N` placeholder slots (`<|video|>`, `<|audio|>`, `<|sensor|>`) of the prompt's input embeddings with
    `masked_scatter`; the LM itself is unchanged, so labels, attention masks and `generate` need no special code.
    A missing modality has no placeholder in the prompt (the prompt says it is not available).

    Example:
        >>> import emollm
        >>> m = emollm.load("runs/quickstart/final")  # doctest: +SKIP
        >>> out = m.predict(text="I can't believe we won!", video="clip_video.npy")  # doctest: +SKIP
        >>> out["label"], out["scores"], out["modalities"]  # doctest: +SKIP
        ('happy', {'neutral': 0.02, 'happy': 0.95, 'sad': 0.01, 'angry': 0.02}, ['video', 'text'])
        >>> print(m.chat("What does this person feel, and why?", audio="clip_audio.npy")["answer"])  # doctest: +SKIP
    """

    def __init__(
        self,
        lm: nn.Module,
        tokenizer: Any,
        projectors: nn.ModuleDict,
        encoders: dict[str, Encoder],
        tokens: dict[str, ModalityTokens],
        template: PromptTemplate,
        label_set: str,
        config: RunConfig,
    ) -> None:
        super().__init__()
        if set(projectors) != set(tokens) or set(encoders) != set(tokens):
            raise ValueError(
                f"modalities disagree: projectors {sorted(projectors)}, encoders {sorted(encoders)}, "
                f"tokens {sorted(tokens)}"
            )
        self.lm = lm
        self.projectors = projectors
        self.tokenizer = tokenizer
        self.encoders = dict(encoders)  # plain dict: frozen, not part of the trainable state
        self.tokens = tokens
        self.template = template
        self.label_set = label_set
        self.labels = get_labels(label_set)
        self.config = config
        self.merged = False  # True after merge_adapters(): inference only
        self.inference_precision = "no"  # "bf16" after set_inference_precision: bf16 autocast
        # post-hoc label-prior adjustment of label scores (checkpoint's prior_adjustment.json), None: unadjusted
        self.prior_adjustment: PriorAdjustment | None = None
        self._fingerprint = ""

    @classmethod
    def from_config(cls, cfg: RunConfig, device: torch.device | str = "cpu") -> EmoLLM:
        """Build a fresh model (base LM + new LoRA + freshly initialised projectors) from a run config."""
        if cfg.train.return_freed_memory and torch.device(device).type == "cpu":
            return_freed_memory()  # before loading: quantization's temporaries are returned too
        lm, tokenizer, _ = load_lm(cfg.lm, device)
        tokens = add_placeholder_tokens(tokenizer, lm, {m: mc.num_tokens for m, mc in cfg.modalities.items()})
        lm = apply_lora(lm, cfg.lm)
        if cfg.train.activation_checkpointing:
            enable_activation_checkpointing(lm)
        hidden = lm.get_input_embeddings().weight.shape[1]
        encoders = {m: build_encoder(mc.encoder, m, **mc.encoder_args) for m, mc in cfg.modalities.items()}
        projectors = build_projectors(cfg.modalities, {m: e.dim for m, e in encoders.items()}, hidden).to(
            device
        )
        template = load_template(cfg.data.prompt)
        return cls(lm, tokenizer, projectors, encoders, tokens, template, cfg.data.labels, cfg)

    @property
    def device(self) -> torch.device:
        """Device of the LM's input embeddings."""
        return self.lm.get_input_embeddings().weight.device

    def embed(self, input_ids: Tensor, features: dict[str, Features]) -> Tensor:
        """Token embeddings `[B, L, H]` with each modality's projected features written into its placeholder slots."""
        embeds = self.lm.get_input_embeddings()(input_ids)
        for modality, tok in self.tokens.items():
            slots = input_ids == tok.token_id  # [B, L]
            feats = features.get(modality)
            if feats is None:
                if slots.any():
                    raise ValueError(
                        f"{modality}: the prompt has {int(slots.sum())} placeholder slots but no "
                        f"{modality} features were given"
                    )
                continue
            per_row = slots.sum(dim=1)
            expected = torch.zeros_like(per_row)
            expected[feats.rows.to(per_row.device)] = tok.num_tokens
            if not torch.equal(per_row, expected):
                raise ValueError(
                    f"{modality}: placeholder slots per sample {per_row.tolist()} != projected feature "
                    f"tokens per sample {expected.tolist()}"
                )
            projected = self.projectors[modality](feats.feats.to(embeds.device), feats.mask.to(embeds.device))
            embeds = embeds.masked_scatter(slots[..., None].expand_as(embeds), projected.to(embeds.dtype))
        unknown = set(features) - set(self.tokens)
        if unknown:
            raise ValueError(f"unknown modality {sorted(unknown)}; this model has {sorted(self.tokens)}")
        return embeds

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        features: dict[str, Features] | None = None,
        labels: Tensor | None = None,
        sample_weights: Tensor | None = None,
        reduction: str = "mean",
    ) -> CausalLMOutput:
        """Causal-LM output. With `labels` (-100 marks ignored positions): the mean next-token loss over the
        supervised positions, with the LM head applied only there (`logits` `[n, V]` for those n positions), each
        sample's tokens weighted by `sample_weights` `[B]` when given (`reduction="sum"`: the weighted sum, for a
        caller that normalises over a larger batch); without labels: logits `[B, L, V]`."""
        with self.autocast():  # bf16 after set_inference_precision("bf16"), else a no-op
            embeds = self.embed(input_ids, features or {})
            if labels is None:
                return self.lm(inputs_embeds=embeds, attention_mask=attention_mask, use_cache=False)
            base = base_model(self.lm)
            hidden = base.get_decoder()(inputs_embeds=embeds, attention_mask=attention_mask, use_cache=False)
            targets = labels[:, 1:]
            keep = targets != IGNORE_INDEX  # [B, L-1]: positions whose next token is supervised
            logits = base.get_output_embeddings()(hidden.last_hidden_state[:, :-1][keep])  # [n, V]
            per_token = F.cross_entropy(logits.float(), targets[keep], reduction="none")
            if sample_weights is None:
                weights = torch.ones_like(per_token)
            else:
                weights = sample_weights.to(per_token.device)[:, None].expand_as(keep)[keep]
            loss = (per_token * weights).sum()
            return CausalLMOutput(loss=loss if reduction == "sum" else loss / weights.sum(), logits=logits)

    def merge_adapters(self) -> EmoLLM:
        """Fold the LoRA adapters into the base weights for inference: the same outputs up to float rounding, with
        no adapter matmuls per layer (label scoring ~1.6x faster on CPU, `benchmarks/run.py`). A quantized base is
        left as it is (merging into 4-bit weights would change them). The merged model cannot be trained or saved as
        an adapter; its fingerprint stays that of the adapters it was built from."""
        if self.merged or self.config.lm.quantization != "none" or not hasattr(self.lm, "merge_and_unload"):
            return self
        self._fingerprint = self.fingerprint()
        self.lm = self.lm.merge_and_unload()
        self.merged = True
        return self

    def set_inference_precision(self, setting: str = "auto") -> str:
        """Run predictions in `setting` (auto | no | bf16, see `resolve_inference_precision`): bf16 stores the frozen
        decoder linears and the LM head in bf16 and runs them under bf16 autocast, as bf16 training computed them
        (residual stream, norms and softmax stay fp32); ~2x faster scoring on a CPU with AMX. One way only: bf16
        weights are not converted back. Returns the precision in use."""
        quantized = self.config.lm.quantization != "none"
        precision = resolve_inference_precision(
            setting, self.lm.get_input_embeddings().weight.dtype, quantized
        )
        if precision == "bf16" and self.inference_precision != "bf16":
            lower_for_inference(self.lm, torch.bfloat16)
        elif precision == "no" and self.inference_precision == "bf16":
            raise ValueError("this model's weights are already in bf16; load it again for precision 'no'")
        self.inference_precision = precision
        return precision

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context predictions run in: bf16 after `set_inference_precision("bf16")`, else none."""
        if self.inference_precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def fingerprint(self) -> str:
        """A hash of what the model computes: trainable weights, base LM, prompt template, labels and config."""
        if self._fingerprint:
            return self._fingerprint
        h = hashlib.sha256()
        for name, tensor in sorted(self.trainable_state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().float().cpu().numpy().tobytes())
        h.update(self.template.to_yaml().encode())
        h.update(dump_config(self.config).encode())
        return h.hexdigest()[:32]

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """The weights training changes: projector weights and LoRA adapter weights."""
        return {k: v for k, v in self.state_dict().items() if k.startswith("projectors.") or "lora_" in k}

    def parameter_counts(self) -> dict[str, int]:
        """Trainable and total parameters (LM, projectors; torch encoders counted as frozen)."""
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.parameters())
        total += sum(
            sum(p.numel() for p in e.parameters()) for e in self.encoders.values() if isinstance(e, nn.Module)
        )
        return {"trainable": trainable, "total": total}

    def predict(self, text: str | None = None, **media: str) -> dict[str, Any]:
        """Label (by label scoring), per-label probabilities, a generated rationale and the modalities used."""
        return generate.predict(self, text=text, media=media)

    def chat(self, message: str, text: str | None = None, **media: str) -> dict[str, Any]:
        """Answer a free question about the given inputs; also returns the label-scoring prediction."""
        return generate.chat(self, message, text=text, media=media)
