"""Tiny frozen random encoders for tests and smoke runs: raw arrays [T, D_in] -> features [T, D]."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from emollm.data.media import MediaError
from emollm.encoders.base import FrozenModule, freeze, hash_module, pad_frames
from emollm.encoders.precomputed import load_feature_file


class RandomMLPEncoder(FrozenModule):
    """A seeded, frozen two-layer MLP applied per frame: `[T, in_dim]` raw arrays -> `[B, T, dim]` features."""

    def __init__(self, modality: str, in_dim: int, dim: int, seed: int = 0) -> None:
        super().__init__()
        self.name = "random_mlp"
        self.modality = modality
        self.in_dim, self.dim = int(in_dim), int(dim)
        gen = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        freeze(self)

    def prepare(self, ref: str | Path) -> np.ndarray:
        """Load one raw `[T, in_dim]` array."""
        array = load_feature_file(ref)
        if array.shape[1] != self.in_dim:
            raise MediaError(
                f"{ref}: expected input dim {self.in_dim} for {self.modality}, got {array.shape[1]}"
            )
        return array

    @torch.no_grad()
    def encode(self, inputs: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
        """Features `[B, T, dim]` and mask `[B, T]`."""
        raw, mask = pad_frames(inputs, self.in_dim)
        return self.net(raw) * mask[..., None], mask

    def fingerprint(self) -> str:
        """Hash of the weights and the encoder's settings."""
        return hash_module(self, name=self.name, in_dim=self.in_dim, dim=self.dim)
