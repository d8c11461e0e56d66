"""The survey's fusion taxonomy on frame features `[B, T, D]` + masks `[B, T]` + presence `[B, M]`.

A missing modality is never zero-filled data: pooled inputs use a learned "missing" embedding flagged by presence,
late fusion combines only present modalities, attention masks exclude absent frames.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def masked_mean(feats: Tensor, mask: Tensor) -> Tensor:
    """`[B, T, D]`, `[B, T]` -> mean over valid frames `[B, D]` (zeros where a row has none)."""
    weights = mask.float()
    return (feats * weights[..., None]).sum(1) / weights.sum(1, keepdim=True).clamp_min(1)


class Pooled(nn.Module):
    """Per-modality pooled embedding `[B, H]`: MLP on the masked mean, or a learned 'missing' vector."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout))
        self.missing = nn.Parameter(torch.zeros(hidden))

    def forward(self, feats: Tensor, mask: Tensor, present: Tensor) -> Tensor:
        """`[B, T, D]`, `[B, T]`, `[B]` -> `[B, H]`."""
        h = self.net(masked_mean(feats, mask))
        return torch.where(present[:, None], h, self.missing.expand_as(h))


class FusionBase(nn.Module):
    """Holds one Pooled block per modality and a classifier; subclasses define `fuse`."""

    def __init__(self, dims: dict[str, int], classes: int, hidden: int = 64, dropout: float = 0.2) -> None:
        super().__init__()
        self.modalities = list(dims)
        self.hidden, self.classes = hidden, classes
        self.pooled = nn.ModuleDict({m: Pooled(d, hidden, dropout) for m, d in dims.items()})

    def embeddings(self, feats: dict[str, Tensor], masks: dict[str, Tensor], present: Tensor) -> list[Tensor]:
        """Pooled embedding per modality, in `self.modalities` order."""
        return [self.pooled[m](feats[m], masks[m], present[:, i]) for i, m in enumerate(self.modalities)]


class Unimodal(FusionBase):
    """One modality's head (absent rows fall back to the learned missing embedding, i.e. the class prior)."""

    def __init__(self, dims: dict[str, int], classes: int, modality: str, **kw) -> None:
        super().__init__({modality: dims[modality]}, classes, **kw)
        self.head = nn.Linear(self.hidden, classes)

    def forward(self, feats: dict, masks: dict, present: Tensor, all_modalities: list[str]) -> Tensor:
        """Logits `[B, K]`."""
        col = all_modalities.index(self.modalities[0])
        return self.head(
            self.pooled[self.modalities[0]](
                feats[self.modalities[0]], masks[self.modalities[0]], present[:, col]
            )
        )


class Linear(nn.Module):
    """Logistic regression on one modality's masked-mean features (rows without it get learned prior logits)."""

    def __init__(self, dims: dict[str, int], classes: int, modality: str) -> None:
        super().__init__()
        self.modalities = [modality]
        self.head = nn.Linear(dims[modality], classes)
        self.missing = nn.Parameter(torch.zeros(classes))

    def forward(self, feats: dict, masks: dict, present: Tensor, all_modalities: list[str]) -> Tensor:
        """Logits `[B, K]`."""
        m = self.modalities[0]
        logits = self.head(masked_mean(feats[m], masks[m]))
        here = present[:, all_modalities.index(m)]
        return torch.where(here[:, None], logits, self.missing.expand_as(logits))


class EarlyFusion(FusionBase):
    """Concatenate pooled modality embeddings (+ presence flags), then one MLP classifier."""

    def __init__(self, dims: dict[str, int], classes: int, **kw) -> None:
        super().__init__(dims, classes, **kw)
        m = len(dims)
        self.head = nn.Sequential(
            nn.Linear(m * self.hidden + m, self.hidden), nn.GELU(), nn.Linear(self.hidden, classes)
        )

    def forward(self, feats: dict, masks: dict, present: Tensor, all_modalities: list[str]) -> Tensor:
        """Logits `[B, K]`."""
        return self.head(torch.cat([*self.embeddings(feats, masks, present), present.float()], dim=-1))


class LateFusion(FusionBase):
    """Per-modality classifiers combined over the PRESENT modalities: average, vote, learned weights or a
    per-sample reliability gate."""

    def __init__(
        self, dims: dict[str, int], classes: int, combine: str = "average", regression: bool = False, **kw
    ) -> None:
        super().__init__(dims, classes, **kw)
        if combine not in ("average", "vote", "learned", "gate"):
            raise ValueError(f"late fusion combine must be average, vote, learned or gate; got {combine!r}")
        if regression and combine == "vote":
            raise ValueError("late fusion by vote needs classes; use average, learned or gate for regression")
        self.combine, self.regression = combine, regression
        self.heads = nn.ModuleDict({m: nn.Linear(self.hidden, classes) for m in dims})
        self.weights = nn.Parameter(torch.zeros(len(dims)))
        self.gate = nn.ModuleDict({m: nn.Linear(self.hidden, 1) for m in dims})

    def modality_logits(self, feats: dict, masks: dict, present: Tensor) -> Tensor:
        """Per-modality logits `[B, M, K]`."""
        embs = self.embeddings(feats, masks, present)
        return torch.stack([self.heads[m](e) for m, e in zip(self.modalities, embs, strict=True)], dim=1)

    def forward(self, feats: dict, masks: dict, present: Tensor, all_modalities: list[str]) -> Tensor:
        """Log-probabilities `[B, K]` of the combined prediction."""
        logits = self.modality_logits(feats, masks, present)
        probs = logits.softmax(-1)
        if self.combine == "gate":
            embs = self.embeddings(feats, masks, present)
            scores = torch.cat([self.gate[m](e) for m, e in zip(self.modalities, embs, strict=True)], dim=-1)
        elif self.combine == "learned":
            scores = self.weights.expand(present.shape[0], -1)
        else:
            scores = torch.zeros(present.shape, device=present.device)
        weights = scores.masked_fill(~present, float("-inf")).softmax(-1)  # [B, M] over present modalities
        if self.regression:  # combine the modalities' predicted values, not probabilities
            return (weights[..., None] * logits).sum(1)
        if self.combine == "vote" and not self.training:
            votes = torch.nn.functional.one_hot(probs.argmax(-1), self.classes).float() * present[..., None]
            tally = votes.sum(1) + 1e-3 * (weights[..., None] * probs).sum(
                1
            )  # ties broken by mean probability
            return torch.log(tally / tally.sum(-1, keepdim=True))
        return torch.log((weights[..., None] * probs).sum(1).clamp_min(1e-9))


class GatedFusion(FusionBase):
    """Gated multimodal unit (Arevalo et al., 2017): h = sum_m z_m * tanh(W_m x_m), z = softmax of gates over
    present modalities."""

    def __init__(self, dims: dict[str, int], classes: int, **kw) -> None:
        super().__init__(dims, classes, **kw)
        m = len(dims)
        self.transform = nn.ModuleDict({k: nn.Linear(self.hidden, self.hidden) for k in dims})
        self.gates = nn.Linear(m * self.hidden, m)
        self.head = nn.Linear(self.hidden, classes)

    def forward(self, feats: dict, masks: dict, present: Tensor, all_modalities: list[str]) -> Tensor:
        """Logits `[B, K]`."""
        embs = self.embeddings(feats, masks, present)
        h = torch.stack(
            [torch.tanh(self.transform[m](e)) for m, e in zip(self.modalities, embs, strict=True)], 1
        )
        z = self.gates(torch.cat(embs, -1)).masked_fill(~present, float("-inf")).softmax(-1)
        return self.head((z[..., None] * h).sum(1))


class CrossAttentionFusion(FusionBase):
    """Hybrid: each modality's frames attend to the other modalities' frames (masked), pooled and concatenated.
    With `layers` > 1 and a self-attention block per target it is a MulT-style crossmodal transformer."""

    def __init__(self, dims: dict[str, int], classes: int, layers: int = 1, heads: int = 4, **kw) -> None:
        super().__init__(dims, classes, **kw)
        h = self.hidden
        self.inp = nn.ModuleDict({m: nn.Linear(d, h) for m, d in dims.items()})
        self.cross = nn.ModuleDict(
            {
                m: nn.ModuleList([nn.MultiheadAttention(h, heads, batch_first=True) for _ in range(layers)])
                for m in dims
            }
        )
        self.norms = nn.ModuleDict({m: nn.ModuleList([nn.LayerNorm(h) for _ in range(layers)]) for m in dims})
        self.self_attn = (
            nn.ModuleDict({m: nn.TransformerEncoderLayer(h, heads, 2 * h, batch_first=True) for m in dims})
            if layers > 1
            else None
        )
        self.head = nn.Sequential(nn.Linear(len(dims) * h, h), nn.GELU(), nn.Linear(h, classes))

    def forward(self, feats: dict, masks: dict, present: Tensor, all_modalities: list[str]) -> Tensor:
        """Logits `[B, K]`."""
        seqs = {m: self.inp[m](feats[m]) for m in self.modalities}
        pooled = []
        for i, target in enumerate(self.modalities):
            x = seqs[target]
            others = [m for m in self.modalities if m != target]
            keys = torch.cat([seqs[m] for m in others], 1)
            key_mask = torch.cat([masks[m] for m in others], 1)
            no_keys = ~key_mask.any(1)
            safe_mask = key_mask.clone()
            safe_mask[no_keys, 0] = True  # rows with no other modality attend to one (zeroed) slot
            for attn, norm in zip(self.cross[target], self.norms[target], strict=True):
                out, _ = attn(x, keys, keys, key_padding_mask=~safe_mask, need_weights=False)
                x = norm(x + out * (~no_keys)[:, None, None])
            if self.self_attn is not None:
                x = self.self_attn[target](x, src_key_padding_mask=~masks[target] | ~present[:, i, None])
            emb = masked_mean(x, masks[target])
            pooled.append(torch.where(present[:, i, None], emb, self.pooled[target].missing.expand_as(emb)))
        return self.head(torch.cat(pooled, -1))


class TensorFusion(FusionBase):
    """TFN (Zadeh et al., 2017): the outer product of [h_m, 1] over modalities, flattened, then an MLP."""

    def __init__(self, dims: dict[str, int], classes: int, fused: int = 8, **kw) -> None:
        super().__init__(dims, classes, **kw)
        self.down = nn.ModuleDict({m: nn.Linear(self.hidden, fused) for m in dims})
        size = (fused + 1) ** len(dims)
        self.head = nn.Sequential(
            nn.Dropout(0.2), nn.Linear(size, self.hidden), nn.GELU(), nn.Linear(self.hidden, classes)
        )

    def forward(self, feats: dict, masks: dict, present: Tensor, all_modalities: list[str]) -> Tensor:
        """Logits `[B, K]`."""
        embs = self.embeddings(feats, masks, present)
        ones = torch.ones(present.shape[0], 1, device=present.device)
        fused = None
        for m, e in zip(self.modalities, embs, strict=True):
            z = torch.cat([self.down[m](e), ones], -1)
            fused = z if fused is None else (fused[..., None] * z[:, None, :]).flatten(1)
        return self.head(fused)


class LowRankFusion(FusionBase):
    """LMF (Liu et al., 2018): rank-r factors per modality, fused = sum_r prod_m ([h_m, 1] W_m^r)."""

    def __init__(self, dims: dict[str, int], classes: int, rank: int = 4, **kw) -> None:
        super().__init__(dims, classes, **kw)
        self.factors = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(rank, self.hidden + 1, self.hidden) * 0.1) for m in dims}
        )
        self.rank_weights = nn.Parameter(torch.ones(rank) / rank)
        self.head = nn.Linear(self.hidden, classes)

    def forward(self, feats: dict, masks: dict, present: Tensor, all_modalities: list[str]) -> Tensor:
        """Logits `[B, K]`."""
        embs = self.embeddings(feats, masks, present)
        ones = torch.ones(present.shape[0], 1, device=present.device)
        product = None
        for m, e in zip(self.modalities, embs, strict=True):
            z = torch.einsum("bi,rio->bro", torch.cat([e, ones], -1), self.factors[m])  # [B, r, H]
            product = z if product is None else product * z
        return self.head((self.rank_weights[None, :, None] * product).sum(1))


def build_fusion(name: str, dims: dict[str, int], classes: int, regression: bool = False) -> nn.Module:
    """A fusion model by name: unimodal-<m> (MLP), linear-<m> (logistic regression), early, late[-average|-vote|-learned|-gate], hybrid-attention,
    hybrid-gated, mult, tfn, lmf. `classes` is the output size (class logits, or regression targets)."""
    if name.startswith(("unimodal-", "linear-")):
        kind, modality = name.split("-", 1)
        if modality not in dims:
            raise KeyError(f"{kind} baseline for {modality!r}, but the features have {sorted(dims)}")
        return Unimodal(dims, classes, modality) if kind == "unimodal" else Linear(dims, classes, modality)
    if name.startswith("late"):
        combine = name.split("-", 1)[1] if "-" in name else "average"
        return LateFusion(dims, classes, combine=combine, regression=regression)
    builders = {
        "early": EarlyFusion,
        "hybrid-gated": GatedFusion,
        "tfn": TensorFusion,
        "lmf": LowRankFusion,
        "hybrid-attention": lambda d, k: CrossAttentionFusion(d, k, layers=1),
        "mult": lambda d, k: CrossAttentionFusion(d, k, layers=2),
    }
    if name not in builders:
        raise KeyError(
            f"unknown fusion {name!r}; valid: unimodal-<modality>, linear-<modality>, early, late[-average|-vote|-learned|"
            f"-gate], {', '.join(sorted(k for k in builders if k != 'early'))}"
        )
    return builders[name](dims, classes)
