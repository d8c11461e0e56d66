"""Frozen encoders, one builder per name. Each returns features [B, T, D] + mask [B, T] and has a fingerprint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emollm.encoders.audio import EGeMAPSEncoder, HFAudioEncoder, WhisperCT2Encoder
from emollm.encoders.base import Encoder, freeze, pad_frames
from emollm.encoders.face import FERVideoEncoder
from emollm.encoders.physio import HFTimeSeriesEncoder, PhysioEncoder
from emollm.encoders.precomputed import PrecomputedEncoder
from emollm.encoders.random import RandomMLPEncoder
from emollm.encoders.vision import HFVisionEncoder

ENCODERS: dict[str, Callable[..., Encoder]] = {
    "precomputed": PrecomputedEncoder,
    "random_mlp": RandomMLPEncoder,
    "physio": PhysioEncoder,
    "fer2013": FERVideoEncoder,
    "whisper_ct2": WhisperCT2Encoder,
    "egemaps": EGeMAPSEncoder,
    "hf_audio": HFAudioEncoder,
    "hf_vision": HFVisionEncoder,
    "hf_timeseries": HFTimeSeriesEncoder,
}


def build_encoder(name: str, modality: str, **kwargs: Any) -> Encoder:
    """Build an encoder by name for a modality; an unknown name or bad argument lists what is valid."""
    if name not in ENCODERS:
        raise KeyError(f"unknown encoder {name!r} for {modality}; valid: {', '.join(sorted(ENCODERS))}")
    try:
        return ENCODERS[name](modality=modality, **kwargs)
    except TypeError as exc:
        raise TypeError(f"encoder {name!r} for {modality}: {exc}") from exc


__all__ = [
    "ENCODERS",
    "Encoder",
    "PrecomputedEncoder",
    "RandomMLPEncoder",
    "build_encoder",
    "freeze",
    "pad_frames",
]
