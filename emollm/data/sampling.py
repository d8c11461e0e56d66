"""Training data order and weighting: a seeded, optionally length-grouped order per epoch that resumes exactly,
and per-class loss weights for imbalanced corpora."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    """A seeded permutation per epoch. The loop sets the epoch with `use_epoch` (accelerate's own epoch counter
    restarts at 0 after a resume, so this sampler deliberately has no `set_epoch` for it to call).

    With `lengths`, the order is length-grouped: the permutation is cut into pools of `pool` global batches
    (`batch` examples each), each pool is sorted by length, and the pool's batches are shuffled, so a batch holds
    examples of similar length (less padding) while the data order stays random and seeded.
    """

    def __init__(
        self, n: int, seed: int, lengths: list[int] | None = None, batch: int = 1, pool: int = 16
    ) -> None:
        self.n, self.seed, self.epoch = n, seed, 0
        self.lengths, self.batch, self.pool = lengths, batch, pool

    def use_epoch(self, epoch: int) -> None:
        """Select the permutation of this epoch."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=gen).tolist()
        if self.lengths is None or self.batch < 1:
            return iter(order)
        grouped = []
        size = self.batch * self.pool
        for start in range(0, len(order), size):
            chunk = sorted(order[start : start + size], key=lambda i: -self.lengths[i])
            batches = [chunk[j : j + self.batch] for j in range(0, len(chunk), self.batch)]
            for k in torch.randperm(len(batches), generator=gen).tolist():
                grouped.extend(batches[k])
        return iter(grouped)

    def __len__(self) -> int:
        return self.n


def class_weight_table(emotions: list[str], scheme: str) -> dict[str, float]:
    """Per-class loss weights from training label counts: `inverse` (n / (K n_c)), `sqrt_inverse` (its square root)
    or `none` (empty table)."""
    if scheme == "none":
        return {}
    counts = Counter(emotions)
    weights = {c: len(emotions) / (len(counts) * n) for c, n in counts.items()}
    return {c: w**0.5 for c, w in weights.items()} if scheme == "sqrt_inverse" else weights


def class_weights_of(emotions: list[str], table: dict[str, float]) -> torch.Tensor:
    """`[B]` loss weight of each sample of a batch."""
    return torch.tensor([table[e] for e in emotions], dtype=torch.float32)
