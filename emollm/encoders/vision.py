"""Hugging Face image/video backbones by hub id or local path: CLIP/SigLIP vision towers, ViT, VideoMAE.

Image models encode each sampled frame and pool its tokens (`cls` or `mean`) at `layer`, giving `[T, D]`. Video
models (whose config has `num_frames`, e.g. VideoMAE) encode the clip at once and return their tokens grouped per
temporal tubelet, mean-pooled over space, giving `[T / tubelet, D]`. Which path runs is decided from the config,
never from the model's name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from emollm.data.media import load_video
from emollm.encoders.base import FrozenModule, PerClipEncoder, freeze, hash_module
from emollm.encoders.face import IMAGE_SUFFIXES, read_image
from emollm.hub import pretrained_kwargs


class HFVisionEncoder(PerClipEncoder, FrozenModule):
    """Per-frame (image models) or per-tubelet (video models) features from a frozen HF vision backbone."""

    def __init__(
        self,
        name_or_path: str,
        modality: str = "video",
        layer: int = -1,
        pool: str = "cls",
        num_frames: int = 8,
        sample_fps: float | None = None,
        max_frames: int = 32,
        revision: str = "",
    ) -> None:
        super().__init__()
        from transformers import AutoImageProcessor, AutoModel

        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be cls or mean, got {pool!r}")
        self.name, self.modality, self.source = "hf_vision", modality, name_or_path
        hub = pretrained_kwargs(name_or_path, revision)
        self.processor = AutoImageProcessor.from_pretrained(name_or_path, **hub)
        model = AutoModel.from_pretrained(name_or_path, **hub)
        self.model = getattr(model, "vision_model", model)  # CLIP/SigLIP: the vision tower only
        config = self.model.config
        self.clip_frames = int(
            getattr(config, "num_frames", 0) or 0
        )  # video backbones take a fixed-length clip
        self.tubelet = int(getattr(config, "tubelet_size", 1) or 1)
        self.layer, self.pool = layer, pool
        self.num_frames = self.clip_frames or num_frames
        self.sample_fps, self.max_frames = (None if self.clip_frames else sample_fps), max_frames
        self.dim = int(config.hidden_size)
        freeze(self)

    def prepare(self, ref: str | Path) -> np.ndarray:
        """RGB frames `[T, H, W, 3]` of a video (or one image)."""
        path = Path(str(ref))
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return read_image(path)[None]
        frames = load_video(path, self.num_frames, self.sample_fps, self.max_frames).frames
        if self.clip_frames and len(frames) < self.clip_frames:  # short clip: repeat frames evenly
            frames = frames[np.linspace(0, len(frames) - 1, self.clip_frames).round().astype(int)]
        return frames

    @torch.no_grad()
    def frames(self, video: np.ndarray) -> np.ndarray:
        """Features `[T, D]` of one clip."""
        pixels = self.processor(images=list(video), return_tensors="pt")["pixel_values"]
        if self.clip_frames:
            clip = pixels if pixels.ndim == 5 else pixels[None]  # video processors already add the clip axis
            out = self.model(pixel_values=clip, output_hidden_states=True)
            tokens = out.hidden_states[self.layer][0]  # [T/tubelet * patches, D]
            groups = self.clip_frames // self.tubelet
            return tokens.reshape(groups, -1, tokens.shape[-1]).mean(1).numpy()
        out = self.model(pixel_values=pixels, output_hidden_states=True)
        hidden = out.hidden_states[self.layer]  # [T, tokens, D]
        pooled = hidden[:, 0] if self.pool == "cls" else hidden.mean(1)
        return pooled.numpy()

    def fingerprint(self) -> str:
        """Weights + layer + pooling + frame sampling."""
        return hash_module(
            self.model,
            name=self.name,
            layer=self.layer,
            pool=self.pool,
            frames=self.num_frames,
            fps=self.sample_fps,
            max_frames=self.max_frames,
            source=self.source,
        )
