"""Signal perturbations for robustness evaluation (pure numpy on decoded media) and writers for the perturbed files.

Audio `[N]` float in [-1, 1]; video frames `[T, H, W, 3]` uint8; sensor channels name -> `[N]` with a rate each.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from emollm.data.media import save_sensor_npy


def add_noise_snr(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise so that signal power / noise power = `snr_db` dB."""
    power = float(np.mean(x.astype(np.float64) ** 2)) or 1e-12
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), size=x.shape)
    return np.clip(x + noise, -1.0, 1.0).astype(np.float32)


def delay(x: np.ndarray, seconds: float, rate: float) -> np.ndarray:
    """Shift a signal later by `seconds` (leading edge padded with its first value, length kept)."""
    n = min(len(x), int(round(seconds * rate)))
    if n <= 0:
        return x.copy()
    return np.concatenate([np.full(n, x[0], dtype=x.dtype), x[: len(x) - n]])


def blur(frames: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of every frame with standard deviation `sigma` pixels."""
    import cv2

    return np.stack([cv2.GaussianBlur(f, (0, 0), sigmaX=sigma) for f in frames])


def occlude(frames: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Black out one square covering `fraction` of the frame area at a random position (same for the whole clip)."""
    out = frames.copy()
    h, w = frames.shape[1:3]
    side = int(round(np.sqrt(fraction * h * w)))
    y, x = int(rng.integers(0, max(h - side, 0) + 1)), int(rng.integers(0, max(w - side, 0) + 1))
    out[:, y : y + side, x : x + side] = 0
    return out


def drop_frames(frames: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Drop each frame with probability `rate`, showing the last kept frame instead (a frozen stream)."""
    keep = rng.random(len(frames)) >= rate
    keep[0] = True
    idx = np.maximum.accumulate(np.where(keep, np.arange(len(frames)), 0))
    return frames[idx]


def flatline(x: np.ndarray) -> np.ndarray:
    """A detached sensor: the channel holds its median value throughout."""
    return np.full_like(x, float(np.median(x)))


def spikes(x: np.ndarray, per_second: float, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Motion artefacts: `per_second` short spikes of +-5 channel SDs, plus one baseline jump of 2 SDs."""
    out = x.astype(np.float64).copy()
    sd = float(x.std()) or 1.0
    n = max(1, int(round(per_second * len(x) / rate)))
    width = max(1, int(0.05 * rate))
    for start in rng.integers(0, max(len(x) - width, 1), n):
        out[start : start + width] += rng.choice([-5, 5]) * sd
    out[int(rng.integers(len(x) // 4, max(len(x) // 4 + 1, 3 * len(x) // 4))) :] += 2 * sd
    return out


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Write a mono 16-bit wav atomically."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.wav")
    sf.write(tmp, samples, rate, subtype="PCM_16")
    os.replace(tmp, path)
    return path


def write_video(path: Path, frames: np.ndarray, fps: float) -> Path:
    """Write frames `[T, H, W, 3]` as an MPEG-4 Part 2 mp4 (deterministic encoder), atomically."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.mp4")
    h, w = frames.shape[1:3]
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("mpeg4", rate=max(1, int(round(fps))))
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.pix_fmt, stream.bit_rate = "yuv420p", 2_000_000
        for frame in frames:
            img = np.ascontiguousarray(frame[: stream.height, : stream.width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(tmp, path)
    return path


def write_sensor(path: Path, signals: dict[str, np.ndarray], rates: dict[str, float]) -> Path:
    """Write channels as `.npy` `[C, N]` + `.json` (see `save_sensor_npy`); they must share one sampling rate."""

    if len({rates[c] for c in signals}) != 1:
        raise ValueError(f"{path}: channels with different rates cannot share one .npy; split them first")
    return save_sensor_npy(path, signals, rates[next(iter(signals))])
