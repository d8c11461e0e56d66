"""Post-hoc prior adjustment of label scores (logit adjustment, Menon et al., ICLR 2021): the decision rule
argmax_y log p(y | x) - tau * log pi(y), with pi the training label distribution and tau fitted on dev data.

A model trained on an imbalanced corpus (MELD: 47% neutral, 3% fear) learns the training prior into its scores;
subtracting a fitted share of that prior trades a little accuracy on the frequent class for recall on the rare ones.
tau = 0 is the unadjusted model, tau = 1 the balanced-error (UAR) optimum under a calibrated model. It is fitted on
held-out data for a named metric and saved beside the model (`prior_adjustment.json` in an LLM checkpoint, a
field of a fusion baseline's `baseline.json`), so chat, eval and the web page apply the same rule. The fit lives in
`emollm.evaluation.prior_fit`.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emollm.io import atomic_write_json

FILENAME = "prior_adjustment.json"


@dataclasses.dataclass(frozen=True)
class PriorAdjustment:
    """A fitted prior adjustment: per-label training prior, the strength tau, and how tau was chosen."""

    labels: tuple[str, ...]
    prior: tuple[float, ...]
    tau: float
    metric: str = "weighted_f1"
    fitted_on: str = ""
    dev_scores: dict[str, float] = dataclasses.field(default_factory=dict)  # "tau" -> dev metric
    selection: str = ""  # how tau was chosen among dev_scores (e.g. the one-standard-error rule)

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.prior):
            raise ValueError(
                f"prior adjustment: {len(self.labels)} labels but {len(self.prior)} prior values"
            )
        if min(self.prior) <= 0 or not np.isclose(sum(self.prior), 1.0, atol=1e-3):
            raise ValueError(f"prior adjustment: the prior must be positive and sum to 1, got {self.prior}")

    def log_bias(self) -> np.ndarray:
        """The per-label term added to log-probabilities, `[K]`: -tau * log prior."""
        return -self.tau * np.log(np.asarray(self.prior, dtype=np.float64))

    def apply(self, probs: torch.Tensor) -> torch.Tensor:
        """Adjusted probabilities `[B, K]` from unadjusted ones `[B, K]` (same label order)."""
        if probs.shape[-1] != len(self.labels):
            raise ValueError(
                f"prior adjustment over {len(self.labels)} labels, scores have {probs.shape[-1]}"
            )
        bias = torch.as_tensor(self.log_bias(), dtype=torch.float64)
        logp = torch.log(probs.double().clamp_min(1e-30))
        return torch.softmax(logp + bias, dim=-1).to(probs.dtype)

    def check_labels(self, labels: Sequence[str], where: str) -> None:
        """Raise when the adjustment was fitted for another label set than `labels`."""
        if tuple(labels) != self.labels:
            raise ValueError(
                f"{where}: prior adjustment is for labels {list(self.labels)}, the model has {list(labels)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {**dataclasses.asdict(self), "labels": list(self.labels), "prior": list(self.prior)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "prior adjustment") -> PriorAdjustment:
        """Build from `to_dict` output; a missing or malformed field raises naming `where`."""
        try:
            return cls(labels=tuple(d["labels"]), prior=tuple(float(p) for p in d["prior"]), tau=float(d["tau"]),
                       metric=str(d.get("metric", "weighted_f1")), fitted_on=str(d.get("fitted_on", "")),
                       dev_scores={str(k): float(v) for k, v in d.get("dev_scores", {}).items()},
                       selection=str(d.get("selection", "")))  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: malformed prior adjustment ({exc})") from exc


def as_dict(adjustment: PriorAdjustment | None) -> dict[str, Any] | None:
    """An adjustment's JSON fields, or None for an unadjusted model (as metrics.json records it)."""
    return adjustment.to_dict() if adjustment is not None else None


def applied(probs: torch.Tensor, adjustment: PriorAdjustment | None) -> torch.Tensor:
    """Probabilities `[B, K]` after an adjustment (unchanged without one)."""
    return adjustment.apply(probs) if adjustment is not None else probs


def smoothed_prior(counts: Sequence[float]) -> tuple[float, ...]:
    """Add-one smoothed label frequencies `[K]` from per-label counts `[K]`, so no label has prior 0."""
    total = sum(counts) + len(counts)
    return tuple((float(c) + 1) / total for c in counts)


def label_prior(split: str | Path, labels: Sequence[str]) -> tuple[float, ...]:
    """Label frequencies `[K]` of a split JSONL's `labels.emotion` (add-one smoothed, so no label has prior 0)."""
    split = Path(split)
    counts: Counter[str] = Counter()
    for i, line in enumerate(split.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            label = json.loads(line)["labels"]["emotion"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{split}:{i}: cannot read labels.emotion ({exc})") from exc
        if label is not None and label not in labels:
            raise ValueError(f"{split}:{i}: label {label!r} is not in the label set {list(labels)}")
        counts[label] += 1
    total = sum(counts[lab] for lab in labels)
    if total == 0:
        raise ValueError(f"{split}: no labelled records to estimate the label prior from")
    return smoothed_prior([counts[lab] for lab in labels])


def save_prior_adjustment(folder: str | Path, adjustment: PriorAdjustment) -> Path:
    """Write FOLDER/prior_adjustment.json (atomically)."""
    path = Path(folder) / FILENAME
    atomic_write_json(path, adjustment.to_dict())
    return path


def read_prior_adjustment(folder: str | Path) -> PriorAdjustment | None:
    """FOLDER/prior_adjustment.json, or None when the folder has none."""
    path = Path(folder) / FILENAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    return PriorAdjustment.from_dict(data, str(path))
