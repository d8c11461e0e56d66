"""The frozen-encoder protocol: media input -> features [B, T, D] + mask [B, T], with a fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn


@runtime_checkable
class Encoder(Protocol):
    """A frozen feature extractor for one modality.

    `prepare` decodes and preprocesses one media reference (a path) into the encoder's input; `encode` maps a batch
    of prepared inputs to padded features `[B, T, D]` and a bool mask `[B, T]` (True = real frame). Encoders never
    train: any torch weights are in eval mode with requires_grad False. `fingerprint` changes whenever the weights or
    the preprocessing change, so cached features can be keyed by it.
    """

    name: str
    modality: str
    dim: int

    def prepare(self, ref: str | Path) -> Any: ...

    def encode(self, inputs: Sequence[Any]) -> tuple[Tensor, Tensor]: ...

    def fingerprint(self) -> str: ...


class PerClipEncoder:
    """An encoder whose `frames(prepared) -> [T, D]` handles one clip; `encode` pads a batch of them."""

    dim: int

    def frames(self, prepared: Any) -> np.ndarray:
        """Features `[T, D]` of one prepared input."""
        raise NotImplementedError

    def encode(self, inputs: Sequence[Any]) -> tuple[Tensor, Tensor]:
        """Features `[B, T, D]` + mask `[B, T]`."""
        return pad_frames([self.frames(x) for x in inputs], self.dim)


class FrozenModule(nn.Module):
    """A torch encoder that never trains: `train()` keeps it in eval mode whatever its parent asks."""

    def train(self, mode: bool = True) -> FrozenModule:
        """Stay in eval mode."""
        return super().train(False)


def freeze(module: nn.Module) -> nn.Module:
    """Put a module in eval mode and stop gradients to all its parameters."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def pad_frames(arrays: Sequence[np.ndarray | Tensor], dim: int) -> tuple[Tensor, Tensor]:
    """Stack variable-length `[T_i, D]` arrays into `[B, T_max, D]` float32 plus a bool mask `[B, T_max]`."""
    if not arrays:
        raise ValueError("cannot encode an empty batch")
    tensors = [
        torch.as_tensor(np.asarray(a) if not isinstance(a, Tensor) else a, dtype=torch.float32)
        for a in arrays
    ]
    for t in tensors:
        if t.ndim != 2 or t.shape[1] != dim:
            raise ValueError(f"expected frames of shape [T, {dim}], got {list(t.shape)}")
    t_max = max(t.shape[0] for t in tensors)
    feats = torch.zeros(len(tensors), t_max, dim)
    mask = torch.zeros(len(tensors), t_max, dtype=torch.bool)
    for i, t in enumerate(tensors):
        feats[i, : t.shape[0]] = t
        mask[i, : t.shape[0]] = True
    return feats, mask


def hash_config(**parts: Any) -> str:
    """A short stable hash of JSON-serialisable preprocessing settings."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def hash_module(module: nn.Module, **preprocessing: Any) -> str:
    """A short stable hash of a module's weights plus its preprocessing settings."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps(preprocessing, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


class Features:
    """One modality's encoded batch: `feats [B_m, T, D]`, `mask [B_m, T]`, and `rows [B_m]`, the indices of the
    batch samples that have this modality (samples without it are simply absent, never zero-filled)."""

    def __init__(self, feats: Tensor, mask: Tensor, rows: Tensor) -> None:
        if feats.shape[:2] != mask.shape or feats.shape[0] != rows.shape[0]:
            raise ValueError(
                f"features {list(feats.shape)}, mask {list(mask.shape)}, rows {list(rows.shape)} disagree"
            )
        self.feats, self.mask, self.rows = feats, mask, rows

    def to(self, device: torch.device | str) -> Features:
        """The same features on another device."""
        return Features(self.feats.to(device), self.mask.to(device), self.rows.to(device))

    def select(self, keep_rows: Tensor) -> Features | None:
        """Features of the batch rows listed in `keep_rows` (renumbered 0..), or None if none have this modality."""
        hit = self.rows[:, None] == keep_rows[None, :].to(self.rows.device)
        pick = hit.any(dim=1)
        if not pick.any():
            return None
        return Features(self.feats[pick], self.mask[pick], hit[pick].float().argmax(dim=1))


def encode_inputs(encoder: Encoder, prepared: Sequence[Any], rows: Sequence[int]) -> Features:
    """Run a frozen encoder on prepared inputs of the given batch rows (no gradients)."""
    with torch.no_grad():
        feats, mask = encoder.encode(prepared)
    return Features(feats.float(), mask.bool(), torch.as_tensor(list(rows), dtype=torch.long))
