"""Audio encoders: Whisper tiny.en through CTranslate2 (packaged offline default; also transcribes), eGeMAPS via
openSMILE (handcrafted), and any Hugging Face speech backbone by hub id or path (wav2vec2, HuBERT, WavLM, Whisper)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from emollm.data.media import MediaError, load_audio, load_video_audio
from emollm.encoders.base import FrozenModule, PerClipEncoder, freeze, hash_config, hash_module
from emollm.encoders.whisper_layers import (
    check_layers,
    layer_count,
    read_ct2_variables,
    whisper_hidden_states,
)
from emollm.hub import packaged_whisper_dir, pretrained_kwargs

VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm"}
RATE = 16000


def read_waveform(ref: str | Path, rate: int = RATE, min_rate: int | None = None) -> np.ndarray:
    """Mono waveform at `rate` from an audio file or a video's audio track (error if the video has none);
    audio files recorded below `min_rate` Hz are rejected."""
    path = Path(str(ref))
    if path.suffix.lower() in VIDEO_SUFFIXES:
        audio = load_video_audio(path, rate)
        if audio is None:
            raise MediaError(f"{path}: video has no audio track")
        return audio.samples
    return load_audio(path, rate, min_rate=min_rate).samples


def pool_time(frames: np.ndarray, valid: int, factor: int) -> np.ndarray:
    """Average consecutive groups of `factor` frames among the first `valid`: `[T, D]` -> `[ceil(valid/f), D]`."""
    frames = frames[:valid]
    if factor <= 1:
        return frames
    pad = (-len(frames)) % factor
    if pad:
        frames = np.concatenate([frames, np.repeat(frames[-1:], pad, 0)])
    return frames.reshape(-1, factor, frames.shape[-1]).mean(1)


class WhisperCT2Encoder(PerClipEncoder):
    """Whisper encoder frames (20 ms, 384-d for tiny.en), averaged over `pool` frames; 30-s windows, chained.
    `layers` (e.g. [1, 2, 3, 4]) averages those hidden states instead of the last one, computed in torch from the
    same weights (0 = before the first block, i = after block i, blocks + 1 = the final layer norm)."""

    def __init__(
        self,
        modality: str = "audio",
        model_dir: str | None = None,
        pool: int = 5,
        threads: int = 0,
        min_rate: int = RATE,
        layers: list[int] | None = None,
    ) -> None:
        import ctranslate2
        from transformers import WhisperFeatureExtractor

        self.name, self.modality = "whisper_ct2", modality
        self.model_dir = Path(model_dir) if model_dir else packaged_whisper_dir()
        self.model = ctranslate2.models.Whisper(
            str(self.model_dir), device="cpu", compute_type="float32", intra_threads=threads
        )
        self.mel = WhisperFeatureExtractor(feature_size=self.model.n_mels)
        self.pool, self.min_rate, self.layers = pool, min_rate, None
        if layers is not None:
            self.weights = read_ct2_variables(self.model_dir / "model.bin")
            self.layers = check_layers(
                list(layers), layer_count(self.weights) + 1, self.model_dir / "model.bin"
            )
        self.dim = int(self._encode_window(np.zeros(RATE, np.float32)).shape[-1])

    def _encode_window(self, wave: np.ndarray) -> np.ndarray:
        import ctranslate2

        mel = self.mel(wave, sampling_rate=RATE, return_tensors="np")["input_features"].astype(np.float32)
        if self.layers is not None:
            with torch.no_grad():
                states = whisper_hidden_states(self.weights, torch.from_numpy(mel))
            return torch.stack([states[i][0] for i in self.layers]).mean(0).numpy()
        return np.array(self.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel))))[0]

    def prepare(self, ref: str | Path) -> np.ndarray:
        """The 16-kHz waveform of an audio file or a video's audio track."""
        return read_waveform(ref, min_rate=self.min_rate)

    def frames(self, wave: np.ndarray) -> np.ndarray:
        """Pooled encoder frames `[T, D]` of one waveform (each 30-s window encoded separately)."""
        out = []
        for start in range(0, len(wave), 30 * RATE):
            chunk = wave[start : start + 30 * RATE]
            valid = max(1, math.ceil(len(chunk) / RATE / 0.02))
            out.append(pool_time(self._encode_window(chunk), valid, self.pool))
        return np.concatenate(out)

    def transcribe(self, wave: np.ndarray, max_length: int = 128) -> str:
        """English transcript of the first 30 s (greedy)."""
        import ctranslate2
        from tokenizers import Tokenizer

        mel = self.mel(wave[: 30 * RATE], sampling_rate=RATE, return_tensors="np")["input_features"]
        result = self.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.astype(np.float32))),
            [["<|startoftranscript|>", "<|notimestamps|>"]],
            max_length=max_length,
        )
        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        return tokenizer.decode(result[0].sequences_ids[0], skip_special_tokens=True).strip()

    def fingerprint(self) -> str:
        """Model file identity (size + config) and pooling."""
        model_bin = self.model_dir / "model.bin"
        return hash_config(
            name=self.name,
            size=model_bin.stat().st_size,
            config=(self.model_dir / "config.json").read_text(),
            pool=self.pool,
            **({"layers": self.layers} if self.layers is not None else {}),
        )


class EGeMAPSEncoder(PerClipEncoder):
    """openSMILE eGeMAPSv02: 88 functionals per clip (`[1, 88]`) or 25 low-level descriptors per 10 ms (`[T, 25]`,
    averaged over `pool` frames)."""

    def __init__(
        self, modality: str = "audio", level: str = "functionals", pool: int = 10, min_rate: int = 8000
    ) -> None:
        import opensmile

        if level not in ("functionals", "lld"):
            raise ValueError(f"eGeMAPS level must be functionals or lld, got {level!r}")
        feature_level = (
            opensmile.FeatureLevel.Functionals
            if level == "functionals"
            else opensmile.FeatureLevel.LowLevelDescriptors
        )
        self.smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=feature_level)
        self.name, self.modality, self.level, self.pool = "egemaps", modality, level, pool
        self.dim = 88 if level == "functionals" else 25
        self.version, self.min_rate = opensmile.__version__, min_rate

    def prepare(self, ref: str | Path) -> np.ndarray:
        """The 16-kHz waveform."""
        return read_waveform(ref, min_rate=self.min_rate)

    def frames(self, wave: np.ndarray) -> np.ndarray:
        """Functionals `[1, 88]` or pooled LLDs `[T, 25]`."""
        values = self.smile.process_signal(wave, RATE).to_numpy(dtype=np.float32)
        values = np.nan_to_num(values)
        return values if self.level == "functionals" else pool_time(values, len(values), self.pool)

    def fingerprint(self) -> str:
        """Feature set, level, pooling and openSMILE version."""
        return hash_config(name=self.name, level=self.level, pool=self.pool, version=self.version)


class HFAudioEncoder(PerClipEncoder, FrozenModule):
    """Hidden states of a Hugging Face speech model (hub id or local path) at `layer`, averaged over `pool` frames.

    Models with an encoder-decoder split (Whisper) run their encoder; the input name (`input_values` or
    `input_features`) comes from the feature extractor, never from the model's name.
    """

    def __init__(
        self,
        name_or_path: str,
        modality: str = "audio",
        layer: int = -1,
        pool: int = 1,
        min_rate: int | None = None,
        revision: str = "",
    ) -> None:
        super().__init__()
        from transformers import AutoFeatureExtractor, AutoModel

        self.name, self.modality, self.source = "hf_audio", modality, name_or_path
        hub = pretrained_kwargs(name_or_path, revision)
        self.extractor = AutoFeatureExtractor.from_pretrained(name_or_path, **hub)
        model = AutoModel.from_pretrained(name_or_path, **hub)
        self.model = (
            model.get_encoder()
            if hasattr(model, "get_encoder") and model.config.is_encoder_decoder
            else model
        )
        self.layer, self.pool = layer, pool
        self.min_rate = min_rate if min_rate is not None else int(self.extractor.sampling_rate)
        self.input_name = self.extractor.model_input_names[0]
        self.dim = int(
            model.config.hidden_size if hasattr(model.config, "hidden_size") else model.config.d_model
        )
        freeze(self)

    def prepare(self, ref: str | Path) -> np.ndarray:
        """The waveform at the extractor's sampling rate."""
        return read_waveform(ref, int(self.extractor.sampling_rate), self.min_rate)

    @torch.no_grad()
    def frames(self, wave: np.ndarray) -> np.ndarray:
        """Pooled hidden states `[T, D]` of the real (unpadded) frames of one waveform."""
        inputs = self.extractor(wave, sampling_rate=self.extractor.sampling_rate, return_tensors="pt")
        hidden = self.model(
            **{self.input_name: inputs[self.input_name]}, output_hidden_states=True
        ).hidden_states
        states = hidden[self.layer][0].numpy()
        seconds = len(wave) / self.extractor.sampling_rate
        if self.input_name == "input_features":  # Whisper-style fixed 30-s window: 50 frames per second
            valid = max(1, min(len(states), math.ceil(seconds * len(states) / 30.0)))
        else:
            valid = len(states)
        return pool_time(states, valid, self.pool)

    def fingerprint(self) -> str:
        """Weights + layer + pooling."""
        return hash_module(self.model, name=self.name, layer=self.layer, pool=self.pool, source=self.source)
