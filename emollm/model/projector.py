"""Projectors: frozen-encoder features [B, T, D] + mask [B, T] -> a fixed number of LM tokens [B, N, H]."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from emollm.config import ModalityConfig


def pool_frames(feats: Tensor, mask: Tensor, n: int) -> Tensor:
    """Mask-aware adaptive average pooling over time: `[B, T, D]` -> `[B, n, D]`, ignoring masked frames.

    Valid frames are ranked 0..L-1 in order; output slot i averages ranks [floor(iL/n), ceil((i+1)L/n)), as
    `adaptive_avg_pool1d` does, so L < n repeats frames and L > n averages them.
    """
    lengths = mask.sum(dim=1)  # [B]
    if (lengths == 0).any():
        raise ValueError("a sample has no valid frames for this modality; omit the modality instead")
    rank = mask.long().cumsum(dim=1) - 1  # [B, T]
    i = torch.arange(n, device=feats.device)[None, :, None]  # [1, n, 1]
    length = lengths[:, None, None]
    start = torch.div(i * length, n, rounding_mode="floor")
    end = torch.div((i + 1) * length + n - 1, n, rounding_mode="floor")
    r = rank[:, None, :]  # [B, 1, T]
    weights = ((r >= start) & (r < end) & mask[:, None, :]).to(feats.dtype)  # [B, n, T]
    weights = weights / weights.sum(dim=-1, keepdim=True)
    return weights @ feats


class PooledProjector(nn.Module):
    """Pool frames to `num_tokens`, then map each token to the LM width with `net`."""

    def __init__(self, net: nn.Module, num_tokens: int) -> None:
        super().__init__()
        self.net = net
        self.num_tokens = num_tokens

    def forward(self, feats: Tensor, mask: Tensor) -> Tensor:
        """`[B, T, D]`, `[B, T]` -> `[B, num_tokens, H]`."""
        return self.net(pool_frames(feats, mask, self.num_tokens))


def linear(in_dim: int, out_dim: int, num_tokens: int) -> nn.Module:
    """One linear map per pooled token."""
    return PooledProjector(nn.Linear(in_dim, out_dim), num_tokens)


def mlp2x_gelu(in_dim: int, out_dim: int, num_tokens: int) -> nn.Module:
    """LLaVA-1.5's two-layer MLP with GELU, per pooled token."""
    return PooledProjector(
        nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim)), num_tokens
    )


class Resampler(nn.Module):
    """Attention pooling: `num_tokens` learned queries attend over the (masked) frames, then map to the LM width."""

    def __init__(self, in_dim: int, out_dim: int, num_tokens: int, heads: int = 4, width: int = 256) -> None:
        super().__init__()
        width = max(heads, width - width % heads)
        self.num_tokens = num_tokens
        self.inp = nn.Linear(in_dim, width)
        self.queries = nn.Parameter(torch.randn(num_tokens, width) * width**-0.5)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, out_dim)

    def forward(self, feats: Tensor, mask: Tensor) -> Tensor:
        """`[B, T, D]`, `[B, T]` -> `[B, num_tokens, H]`."""
        if (mask.sum(dim=1) == 0).any():
            raise ValueError("a sample has no valid frames for this modality; omit the modality instead")
        kv = self.inp(feats)
        q = self.queries[None].expand(feats.shape[0], -1, -1)
        pooled, _ = self.attn(q, kv, kv, key_padding_mask=~mask, need_weights=False)
        return self.out(self.norm(pooled + q))


class Standardize(nn.Module):
    """Per-dimension (x - mean) / std with statistics fitted on training features; the identity until fitted."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, frames: Tensor) -> None:
        """Set the statistics from valid training frames `[N, D]` (std floored at 1e-3)."""
        self.mean.copy_(frames.mean(0))
        self.std.copy_(frames.std(0, unbiased=False).clamp_min(1e-3))

    def forward(self, x: Tensor) -> Tensor:
        """`[..., D]` -> standardised `[..., D]`."""
        return (x - self.mean) / self.std


def drop_frames(mask: Tensor, p: float) -> Tensor:
    """Hide each valid frame of `mask` `[B, T]` with probability `p`, keeping a row's frames where all would go."""
    kept = mask & (torch.rand(mask.shape, device=mask.device) >= p)
    return torch.where(kept.any(dim=1, keepdim=True), kept, mask)


class Projector(nn.Module):
    """Input standardisation, then a projector body: `[B, T, D]` + mask `[B, T]` -> `[B, N, H]`.

    While training (only), `frame_dropout` hides random frames (time masking of the frozen features, so a cached
    clip is seen with a new subset of its frames each epoch) and `input_dropout` drops standardised feature values.
    """

    def __init__(
        self, norm: Standardize, body: nn.Module, frame_dropout: float = 0.0, input_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.norm, self.body = norm, body
        self.num_tokens = body.num_tokens
        self.frame_dropout = frame_dropout
        self.input_dropout = nn.Dropout(input_dropout)

    def forward(self, feats: Tensor, mask: Tensor) -> Tensor:
        """`[B, T, D]`, `[B, T]` -> `[B, N, H]`."""
        if self.training and self.frame_dropout > 0:
            mask = drop_frames(mask, self.frame_dropout)
        return self.body(self.input_dropout(self.norm(feats)), mask)


PROJECTORS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "linear": linear,
    "mlp2x_gelu": mlp2x_gelu,
    "resampler": Resampler,
}


def build_projector(
    name: str,
    in_dim: int,
    out_dim: int,
    num_tokens: int,
    frame_dropout: float = 0.0,
    input_dropout: float = 0.0,
) -> nn.Module:
    """Build a projector by name (with its training-time augmentation); an unknown name lists the valid ones."""
    if name not in PROJECTORS:
        raise KeyError(f"unknown projector {name!r}; valid: {', '.join(sorted(PROJECTORS))}")
    body = PROJECTORS[name](in_dim, out_dim, num_tokens)
    return Projector(Standardize(in_dim), body, frame_dropout, input_dropout)


def build_projectors(
    modalities: dict[str, ModalityConfig], dims: dict[str, int], hidden: int
) -> nn.ModuleDict:
    """One projector per configured modality, from its encoder's feature width to the LM width `hidden`."""
    return nn.ModuleDict(
        {
            m: build_projector(
                mc.projector, dims[m], hidden, mc.num_tokens, mc.frame_dropout, mc.input_dropout
            )
            for m, mc in modalities.items()
        }
    )
