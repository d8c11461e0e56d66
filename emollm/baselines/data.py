"""Baseline inputs: a split's features from the SAME encoders, feature cache and bad-media checks as the LLM path."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from emollm.config import RunConfig
from emollm.data.prepass import feature_pass
from emollm.data.sample import Sample, load_samples
from emollm.encoders import build_encoder
from emollm.encoders.base import pad_frames
from emollm.encoders.cache import cached_encoders, flush_caches
from emollm.encoders.text import SentenceEncoder
from emollm.labels import get_labels


@dataclass
class FeatureSet:
    """Frames per modality `[N, T, D]` with masks `[N, T]`, presence `[N, M]`, class labels `[N]`, valence/arousal
    targets `[N, 2]` (NaN where the corpus has none), ids and speakers."""

    ids: list[str]
    y: Tensor
    va: Tensor
    feats: dict[str, Tensor]
    masks: dict[str, Tensor]
    present: Tensor
    speakers: list[str]
    modalities: list[str]
    skipped: list[dict]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Tensor) -> FeatureSet:
        """Rows `index` of every array."""
        idx = index.tolist()
        return FeatureSet(
            [self.ids[i] for i in idx],
            self.y[index],
            self.va[index],
            {m: f[index] for m, f in self.feats.items()},
            {m: k[index] for m, k in self.masks.items()},
            self.present[index],
            [self.speakers[i] for i in idx],
            self.modalities,
            [],
        )


def load_features(
    cfg: RunConfig,
    data: str | Path,
    cache_dir: str | Path | None = None,
    text_encoder: str = "",
    media_roots: Sequence[str | Path] = (),
) -> FeatureSet:
    """Features of every valid sample of a split file, through the run config's (cached) encoders; with
    `text_encoder`, sentence embeddings of the transcripts form a `text` modality `[N, 1, D]`."""
    labels = get_labels(cfg.data.labels)
    samples, bad = load_samples(data, labels, [cfg.data.media_root, *media_roots])
    # a baseline may use a subset of the corpus's modalities: the others are left out, not counted as bad
    samples = [
        dataclasses.replace(s, media={m: r for m, r in s.media.items() if m in cfg.modalities})
        for s in samples
    ]
    samples = [s for s in samples if s.media or (text_encoder and s.text)]
    plain = {m: build_encoder(mc.encoder, m, **mc.encoder_args) for m, mc in cfg.modalities.items()}
    encoders = cached_encoders(plain, cache_dir or cfg.data.cache_dir)
    samples, bad_media = feature_pass(samples, encoders, None, {}, show=False)
    modalities = list(cfg.modalities)
    feats, masks = {}, {}
    for m, enc in encoders.items():
        feats[m], masks[m] = _modality_frames(enc, m, samples)
    flush_caches(encoders)
    if text_encoder:
        feats["text"], masks["text"] = _text_embeddings(text_encoder, samples)
        modalities.append("text")
    present = torch.tensor(
        [
            [m in s.media if m != "text" else bool(text_encoder and s.text) for m in modalities]
            for s in samples
        ],
        dtype=torch.bool,
    )
    y = torch.tensor([labels.index(s.emotion) for s in samples], dtype=torch.long)
    nan = float("nan")
    va = torch.tensor(
        [[float(s.labels.get("valence", nan)), float(s.labels.get("arousal", nan))] for s in samples],
        dtype=torch.float32,
    ).reshape(-1, 2)
    return FeatureSet(
        [s.id for s in samples],
        y,
        va,
        feats,
        masks,
        present,
        [s.speaker or "" for s in samples],
        modalities,
        [b.__dict__ for b in bad] + bad_media,
    )


def _modality_frames(enc: Any, modality: str, samples: list[Sample]) -> tuple[Tensor, Tensor]:
    """Padded frames `[N, T, D]` and mask `[N, T]` of one modality (rows without it are fully masked)."""
    frames = []
    for s in samples:
        if modality in s.media:
            f, k = enc.encode([enc.prepare(s.media[modality])])
            frames.append(f[0][k[0]])
        else:
            frames.append(torch.zeros(1, enc.dim))  # placeholder row, masked out below and by `present`
    feats, mask = pad_frames(frames, enc.dim)
    for i, s in enumerate(samples):
        if modality not in s.media:
            mask[i] = False
    return feats, mask


def _text_embeddings(text_encoder: str, samples: list[Sample]) -> tuple[Tensor, Tensor]:
    """Sentence embeddings `[N, 1, D]` of the transcripts and their mask `[N, 1]` (False without text)."""
    encoder = SentenceEncoder(text_encoder)
    has_text = torch.tensor([bool(s.text) for s in samples])
    embeddings = torch.zeros(len(samples), encoder.dim)
    if has_text.any():
        embeddings[has_text] = encoder.encode([s.text for s in samples if s.text])
    return embeddings[:, None, :], has_text[:, None].clone()


def standardize(
    train: FeatureSet, *others: FeatureSet, per_speaker: bool = False
) -> dict[str, tuple[Tensor, Tensor]]:
    """Standardise frames in place with training statistics per dimension, or each speaker with its own; return
    the training (mean, std) per modality (empty with `per_speaker`)."""
    stats: dict[str, tuple[Tensor, Tensor]] = {}
    for m in train.modalities:
        if per_speaker:
            for fs in (train, *others):
                for speaker in set(fs.speakers):
                    rows = torch.tensor([i for i, s in enumerate(fs.speakers) if s == speaker])
                    _apply(fs, m, rows, *_stats(fs.feats[m][rows], fs.masks[m][rows]))
        else:
            mean, std = _stats(train.feats[m], train.masks[m])
            stats[m] = (mean, std)
            for fs in (train, *others):
                _apply(fs, m, torch.arange(len(fs)), mean, std)
    return stats


def apply_stats(fs: FeatureSet, stats: dict[str, tuple[Tensor, Tensor]], per_speaker: bool = False) -> None:
    """Standardise a feature set with saved training statistics (or per speaker with its own)."""
    if per_speaker:
        standardize(fs, per_speaker=True)
        return
    for m in fs.modalities:
        _apply(fs, m, torch.arange(len(fs)), *stats[m])


def _stats(feats: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    valid = feats[mask]
    if len(valid) == 0:
        return torch.zeros(feats.shape[-1]), torch.ones(feats.shape[-1])
    return valid.mean(0), valid.std(0, unbiased=False).clamp_min(1e-3)


def _apply(fs: FeatureSet, m: str, rows: Tensor, mean: Tensor, std: Tensor) -> None:
    block = (fs.feats[m][rows] - mean) / std
    fs.feats[m][rows] = block * fs.masks[m][rows][..., None]
