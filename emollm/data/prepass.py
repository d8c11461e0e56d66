"""A pass over the training samples' features before training: drop (and report) samples whose media fail to
decode or encode, and fit each modality's input standardisation on the valid frames of the good ones."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from emollm.data.media import MediaError
from emollm.data.sample import Sample

log = logging.getLogger("emollm.prepass")
MEDIA_ERRORS = (
    MediaError,
    FileNotFoundError,
)  # the input's fault: the message names the file and the problem


def feature_pass(
    samples: Sequence[Sample],
    encoders: dict[str, Any],
    projectors: nn.ModuleDict,
    normalize: dict[str, bool],
    max_fit: int = 2000,
    seed: int = 0,
    show: bool = True,
) -> tuple[list[Sample], list[dict[str, str]]]:
    """The samples whose every modality encodes, a report of the others (`sample`, `kind`: bad_media |
    encoder_error | no_encoder, `reason`), and fitted `projectors[m].norm`."""
    good, bad = [], []
    fit_ids = {s.id for s in random.Random(seed).sample(list(samples), min(max_fit, len(samples)))}
    frames: dict[str, list[torch.Tensor]] = {m: [] for m, on in normalize.items() if on}
    for sample in tqdm(samples, desc="checking features", disable=not show):
        unknown = sorted(set(sample.media) - set(encoders))
        if unknown:
            bad.append(
                {
                    "sample": sample.id,
                    "kind": "no_encoder",
                    "reason": f"has {', '.join(unknown)} media but the model has no "
                    f"encoder for it (model modalities: {', '.join(encoders) or 'none'})",
                }
            )
            continue
        try:
            feats = {m: _valid_frames(encoders[m], ref) for m, ref in sample.media.items()}
        except MEDIA_ERRORS as exc:
            bad.append({"sample": sample.id, "kind": "bad_media", "reason": str(exc)})
            log.warning("skipping %s: %s", sample.id, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - an encoder failing on an input: kept apart, never hidden
            reason = f"encoder error ({type(exc).__name__}): {exc}"
            bad.append({"sample": sample.id, "kind": "encoder_error", "reason": reason})
            log.error("skipping %s: %s", sample.id, reason)
            continue
        good.append(sample)
        if sample.id in fit_ids:
            for m, f in feats.items():
                if m in frames:
                    frames[m].append(f)
    for m, chunks in frames.items():
        if chunks:
            projectors[m].norm.fit(torch.cat(chunks))
    return good, bad


def _valid_frames(encoder: Any, ref: str) -> torch.Tensor:
    feats, mask = encoder.encode([encoder.prepare(ref)])
    return feats[0][mask[0]].float()
