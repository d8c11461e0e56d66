"""Media decoding and validation (no model code): video frames, audio waveforms, physiological sensor channels.

Every failure raises `MediaError` naming the file and the problem (missing, empty, truncated, unsupported codec,
silent or too-short audio, missing or irregular sampling rate, NaN/inf sensor values, unknown channel types).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emollm.io import atomic_write_text

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}
SENSOR_TYPES = ("eda", "gsr", "ecg", "ppg", "bvp", "emg", "resp", "temp")
EEG_PREFIX = "eeg_"


class MediaError(ValueError):
    """A media file cannot be used; the message names the file and the problem."""


@dataclass
class Audio:
    """Mono waveform `[N]` float32 in [-1, 1] at `rate` Hz."""

    samples: np.ndarray
    rate: int
    path: str = ""

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return len(self.samples) / self.rate


@dataclass
class Video:
    """Sampled RGB frames `[T, H, W, 3]` uint8 with their times in seconds `[T]`."""

    frames: np.ndarray
    times: np.ndarray
    fps: float
    path: str = ""


@dataclass
class SensorRecording:
    """Physiological channels: name -> samples `[N]` float64, with a sampling rate per channel."""

    signals: dict[str, np.ndarray]
    rates: dict[str, float]
    path: str = ""
    units: dict[str, str] = field(default_factory=dict)

    def channel_type(self, name: str) -> str:
        """The signal type of a channel name (`eda`, `ecg`, ..., or `eeg`)."""
        return "eeg" if name.startswith(EEG_PREFIX) else name.split("_")[0]


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty")
    return path


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling of a 1-D signal (polyphase, scipy) from `rate` to `target` Hz."""
    if rate == target:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(rate), int(target))
    return resample_poly(samples, target // g, rate // g).astype(np.float32)


def load_audio(
    path: str | Path,
    rate: int = 16000,
    min_seconds: float = 0.1,
    expect_rate: int | None = None,
    min_rate: int | None = None,
) -> Audio:
    """Decode an audio file (wav/flac/ogg by soundfile, anything else by PyAV), mix to mono, resample to `rate`.

    `expect_rate` makes a file at another native rate an error (for corpora whose rate is part of the protocol);
    `min_rate` rejects files recorded below it (upsampling cannot restore the missing frequency band).
    """
    path = _check_file(path)
    if path.suffix.lower() == ".wav":
        _check_wav_length(path)
    if path.suffix.lower() in AUDIO_SUFFIXES:
        import soundfile as sf

        try:
            data, native = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as exc:  # soundfile raises its own LibsndfileError / RuntimeError
            raise MediaError(f"{path}: cannot decode audio ({exc})") from exc
        samples = data.mean(axis=1)
    else:
        samples, native = _decode_audio_av(path)
    if expect_rate is not None and native != expect_rate:
        raise MediaError(f"{path}: sample rate {native} Hz, expected {expect_rate} Hz")
    if min_rate is not None and native < min_rate:
        raise MediaError(
            f"{path}: sample rate {native} Hz is below the encoder's minimum {min_rate} Hz "
            f"(upsampling cannot restore the missing band); set min_rate to accept it"
        )
    return _validated_audio(path, samples, int(native), rate, min_seconds)


def _check_wav_length(path: Path) -> None:
    """A RIFF/WAVE file whose data chunk declares more bytes than the file holds was cut short (libsndfile would
    silently read the part that is there)."""
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return  # not RIFF: left to the decoder, which names the problem
    at = 12
    while at + 8 <= len(head):
        chunk, size = head[at : at + 4], int.from_bytes(head[at + 4 : at + 8], "little")
        if chunk == b"data":
            held = path.stat().st_size - (at + 8)
            if size != 0xFFFFFFFF and size > held:
                raise MediaError(
                    f"{path}: WAV header declares {size} bytes of audio but the file holds {held} (truncated)"
                )
            return
        at += 8 + size + (size & 1)


def _validated_audio(path: Path, samples: np.ndarray, native: int, rate: int, min_seconds: float) -> Audio:
    if samples.size == 0:
        raise MediaError(f"{path}: audio has zero samples")
    if not np.isfinite(samples).all():
        raise MediaError(f"{path}: audio contains NaN or inf")
    if samples.size / native < min_seconds:
        raise MediaError(f"{path}: audio is {samples.size / native:.3f} s, shorter than {min_seconds} s")
    if np.abs(samples).max() < 1e-4:
        raise MediaError(f"{path}: audio is silent (peak amplitude < 1e-4)")
    return Audio(resample(samples.astype(np.float32), native, rate), rate, str(path))


def _decode_audio_av(path: Path) -> tuple[np.ndarray, int]:
    """Decode the first audio stream with PyAV as mono float32 at its native rate."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            native = stream.rate or stream.codec_context.sample_rate
            resampler = av.AudioResampler(format="flt", layout="mono", rate=native)
            chunks = [
                f.to_ndarray().reshape(-1)
                for frame in container.decode(stream)
                for f in resampler.resample(frame)
            ]
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"{path}: cannot decode audio ({type(exc).__name__}: {exc})") from exc
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), int(native)


def sample_indices(
    n_frames: int, fps: float, num_frames: int | None, sample_fps: float | None, max_frames: int
) -> np.ndarray:
    """Frame indices: `num_frames` uniformly spaced, or one every 1/`sample_fps` s; at most `max_frames`."""
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    if sample_fps:
        idx = np.arange(0, n_frames, max(1.0, fps / sample_fps)).astype(np.int64)
    else:
        count = min(n_frames, num_frames or max_frames)
        idx = np.linspace(0, n_frames - 1, count).round().astype(np.int64)
    if len(idx) > max_frames:
        idx = idx[np.linspace(0, len(idx) - 1, max_frames).round().astype(np.int64)]
    return np.unique(idx)


def load_video(
    path: str | Path, num_frames: int | None = 8, sample_fps: float | None = None, max_frames: int = 32
) -> Video:
    """Sample RGB frames with decord (PyAV as fallback): uniform `num_frames`, or `sample_fps` frames per second."""
    path = _check_file(path)
    try:
        from decord import VideoReader, cpu

        reader = VideoReader(str(path), ctx=cpu(0))
        fps = float(reader.get_avg_fps()) or 25.0
        idx = sample_indices(len(reader), fps, num_frames, sample_fps, max_frames)
        if len(idx) == 0:
            raise MediaError(f"{path}: video has no frames")
        frames = reader.get_batch(idx.tolist()).asnumpy()
        times = idx / fps
    except MediaError:
        raise
    except Exception:
        frames, times, fps = _decode_video_av(path, num_frames, sample_fps, max_frames)
    return Video(frames, times.astype(np.float64), fps, str(path))


def _decode_video_av(
    path: Path, num_frames: int | None, sample_fps: float | None, max_frames: int
) -> tuple[np.ndarray, np.ndarray, float]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 25)
            decoded = [(f.to_ndarray(format="rgb24"), float(f.time or 0.0)) for f in container.decode(stream)]
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"{path}: cannot decode video ({type(exc).__name__}: {exc})") from exc
    if not decoded:
        raise MediaError(f"{path}: video has no decodable frames (truncated or unsupported codec)")
    idx = sample_indices(len(decoded), fps, num_frames, sample_fps, max_frames)
    return np.stack([decoded[i][0] for i in idx]), np.array([decoded[i][1] for i in idx]), fps


def load_video_audio(path: str | Path, rate: int = 16000, min_seconds: float = 0.1) -> Audio | None:
    """The audio track of a video file, or None when it has none."""
    path = _check_file(path)
    try:
        samples, native = _decode_audio_av(path)
    except MediaError as exc:
        if "no audio stream" in str(exc):
            return None
        raise
    return _validated_audio(path, samples, native, rate, min_seconds)


def _check_channel_names(path: Path, names: list[str]) -> None:
    for name in names:
        kind = name.split("_")[0]
        if not (name.startswith(EEG_PREFIX) and len(name) > len(EEG_PREFIX)) and kind not in SENSOR_TYPES:
            raise MediaError(
                f"{path}: unknown channel {name!r}; name channels by type: {', '.join(SENSOR_TYPES)}, "
                f"or eeg_<electrode> (a suffix such as ecg_2 is allowed)"
            )


def load_sensor(path: str | Path, min_seconds: float = 1.0) -> SensorRecording:
    """Read a sensor recording: CSV with a `time` column (seconds) and one column per signal, EDF/BDF, or
    `.npy` + `.json`; channels are named by type (eda, ecg, ppg, ..., eeg_<electrode>)."""
    path = _check_file(path)
    if path.suffix.lower() == ".csv":
        signals, rate = _read_sensor_csv(path)
        rates = {name: rate for name in signals}
    elif path.suffix.lower() == ".npy":
        signals, rates = _read_sensor_npy(path)
    elif path.suffix.lower() in (".edf", ".bdf"):
        signals, rates = _read_sensor_edf(path)
    else:
        raise MediaError(
            f"{path}: unsupported sensor format {path.suffix or '(none)'}; use .csv, .edf or .npy + .json"
        )
    _check_channel_names(path, list(signals))
    for name, values in signals.items():
        if not np.isfinite(values).all():
            bad = int((~np.isfinite(values)).sum())
            raise MediaError(f"{path}: channel {name!r} has {bad} NaN/inf values")
        if len(values) / rates[name] < min_seconds:
            raise MediaError(
                f"{path}: channel {name!r} lasts {len(values) / rates[name]:.2f} s, shorter than "
                f"{min_seconds} s"
            )
    return SensorRecording(signals, rates, str(path))


def _read_sensor_csv(path: Path) -> tuple[dict[str, np.ndarray], float]:
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        if "time" not in header:
            raise MediaError(f"{path}: CSV needs a header with a 'time' column (seconds); got {header}")
        rows = []
        for lineno, row in enumerate(reader, 2):
            if len(row) != len(header):
                raise MediaError(f"{path}:{lineno}: {len(row)} fields, header has {len(header)}")
            try:
                rows.append([float(x) if x.strip() else np.nan for x in row])
            except ValueError as exc:
                raise MediaError(f"{path}:{lineno}: not a number ({exc})") from exc
    if len(rows) < 2:
        raise MediaError(f"{path}: needs at least 2 rows of samples")
    data = np.asarray(rows, dtype=np.float64)
    t = data[:, header.index("time")]
    steps = np.diff(t)
    if not np.isfinite(t).all() or (steps <= 0).any():
        raise MediaError(f"{path}: 'time' must increase strictly")
    if steps.max() - steps.min() > 0.01 * steps.mean():
        raise MediaError(
            f"{path}: 'time' is irregular (steps {steps.min():.4g}..{steps.max():.4g} s); "
            f"resample to a fixed rate first"
        )
    signals = {name: data[:, i] for i, name in enumerate(header) if name != "time"}
    if not signals:
        raise MediaError(f"{path}: no signal columns besides 'time'")
    return signals, float(1.0 / steps.mean())


def _read_sensor_edf(path: Path) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """EDF/EDF+/BDF via pyedflib; channel labels are lower-cased with spaces and dashes as underscores."""
    try:
        import pyedflib
    except ImportError as exc:
        raise MediaError(f"{path}: reading EDF needs pyedflib (pip install pyedflib)") from exc
    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as exc:
        raise MediaError(f"{path}: cannot read EDF ({exc})") from exc
    try:
        labels = [re.sub(r"[\s\-]+", "_", label.strip().lower()) for label in reader.getSignalLabels()]
        signals = {name: reader.readSignal(i) for i, name in enumerate(labels)}
        rates = {name: float(rate) for name, rate in zip(labels, reader.getSampleFrequencies(), strict=True)}
    finally:
        reader.close()
    return signals, rates


def _read_sensor_npy(path: Path) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise MediaError(f"{path}: a .npy recording needs {sidecar.name} with 'channels' and 'rate' (Hz)")
    meta = json.loads(sidecar.read_text())
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise MediaError(f"{path}: not a plain numeric .npy ({exc})") from exc
    channels = meta.get("channels")
    rate = meta.get("rate")
    if not channels or rate is None:
        raise MediaError(
            f"{sidecar}: needs 'channels' (list of names) and 'rate' (Hz or a per-channel mapping)"
        )
    array = np.atleast_2d(np.asarray(array, dtype=np.float64))
    if array.shape[0] != len(channels):
        array = array.T
    if array.shape[0] != len(channels):
        raise MediaError(f"{path}: shape {list(array.shape)} does not match {len(channels)} channels")
    rates = rate if isinstance(rate, dict) else {c: rate for c in channels}
    if set(rates) != set(channels) or any(
        not (isinstance(r, (int, float)) and r > 0) for r in rates.values()
    ):
        raise MediaError(f"{sidecar}: 'rate' must be a positive number per channel")
    names = [re.sub(r"\s+", "_", c.strip().lower()) for c in channels]
    return {n: array[i] for i, n in enumerate(names)}, {
        n: float(rates[c]) for n, c in zip(names, channels, strict=True)
    }


def save_sensor_npy(
    path: str | Path, signals: dict[str, np.ndarray], rate: float, dtype: type = np.float64
) -> Path:
    """Write channels as `PATH.npy` `[C, N]` + `PATH.json` (names, rate), atomically: the form `load_sensor` reads.
    Channels are cut to the shortest one."""

    path = Path(path).with_suffix(".npy")
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(signals)
    n = min(len(signals[c]) for c in names)
    array = np.stack([np.asarray(signals[c][:n], dtype) for c in names])
    tmp = path.with_name(f".{path.stem}.tmp.npy")
    with tmp.open("wb") as fh:
        np.save(fh, array, allow_pickle=False)
    os.replace(tmp, path)
    atomic_write_text(path.with_suffix(".json"), json.dumps({"channels": names, "rate": rate}))
    return path
