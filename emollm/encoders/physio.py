"""Physiological feature encoders: frozen by construction (no weights), per-window features with documented formulas.

A recording is cut into windows of `window_s` seconds every `hop_s` seconds; each window gives one feature frame, so
features are `[B, T_windows, D]`. Per channel type (channels are named by type, see `emollm.data.media`):

- ecg: band-pass 5-15 Hz, squared; ppg/bvp: band-pass 0.5-8 Hz. Beats are peaks at least 0.6 beat periods
  apart (the period is the autocorrelation maximum in 0.33-1.5 s) with prominence >= 0.3 SD; RR intervals outside
  0.3-2 s or > 30% from the median are rejected. HR = 60 / mean(RR) [bpm], SDNN = std(RR) [ms],
  RMSSD = sqrt(mean(diff(RR)^2)) over successive kept intervals [ms].
- eda/gsr: tonic = 4-s moving median (skin conductance level, uS); phasic = signal - tonic; SCRs = phasic peaks
  >= 0.01 uS prominence, >= 1 s apart. Features: SCL mean, SCL slope [uS/s], SCR rate [1/min], phasic std.
- resp: band-pass 0.1-1 Hz; breaths = peaks >= 1.5 s apart. Features: rate [breaths/min], amplitude (std).
- emg: high-pass 20 Hz; RMS.
- temp: mean [deg C], slope [deg C / s].
- ecg, emg, eeg: optional mains notch (`mains_hz`: 50 or 60) before the features above/below.
- eeg_<electrode>: Welch power in delta 1-4, theta 4-8, alpha 8-13, beta 13-30, gamma 30-45 Hz, as log10.
A frame's features are scaled by fixed reference values (listed in SCALES) so they are of order 1 for the projector.
No pretrained physiological emotion encoder is available offline here; `hf_timeseries` (below) loads a user's
pretrained time-series backbone by hub id or path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from emollm.data.media import MediaError, SensorRecording, load_sensor
from emollm.encoders.base import FrozenModule, PerClipEncoder, hash_config, hash_module, pad_frames
from emollm.hub import pretrained_kwargs

EEG_BANDS = {"delta": (1, 4), "theta": (4, 8), "alpha": (8, 13), "beta": (13, 30), "gamma": (30, 45)}
FEATURES = {
    "ecg": ("hr", "sdnn", "rmssd"),
    "ppg": ("hr", "sdnn", "rmssd"),
    "bvp": ("hr", "sdnn", "rmssd"),
    "eda": ("scl", "scl_slope", "scr_rate", "phasic_std"),
    "gsr": ("scl", "scl_slope", "scr_rate", "phasic_std"),
    "resp": ("resp_rate", "resp_amp"),
    "emg": ("emg_rms",),
    "temp": ("temp", "temp_slope"),
    "eeg": tuple(f"log_{b}" for b in EEG_BANDS),
}
# (offset, scale): feature -> (value - offset) / scale
SCALES = {
    "hr": (70, 15),
    "sdnn": (50, 30),
    "rmssd": (40, 30),
    "scl": (5, 3),
    "scl_slope": (0, 0.1),
    "scr_rate": (5, 5),
    "phasic_std": (0, 0.1),
    "resp_rate": (15, 5),
    "resp_amp": (0, 1),
    "emg_rms": (0, 1),
    "temp": (33, 2),
    "temp_slope": (0, 0.05),
    **{f"log_{b}": (0, 2) for b in EEG_BANDS},
}


def _filter(x: np.ndarray, rate: float, low: float | None, high: float | None) -> np.ndarray:
    """Zero-phase Butterworth band/low/high-pass (order 2), clipped to below Nyquist."""
    from scipy.signal import butter, sosfiltfilt

    nyq = rate / 2
    high = min(high, 0.95 * nyq) if high else None
    if low and high:
        sos = butter(2, [low, high], btype="band", fs=rate, output="sos")
    elif low:
        sos = butter(2, low, btype="high", fs=rate, output="sos")
    else:
        sos = butter(2, high, btype="low", fs=rate, output="sos")
    return sosfiltfilt(sos, x) if len(x) > 15 else x


def beat_period(y: np.ndarray, rate: float) -> float:
    """Dominant beat period [s]: the autocorrelation maximum between 0.33 s (180 bpm) and 1.5 s (40 bpm)."""
    y0 = y - y.mean()
    ac = np.correlate(y0, y0, "full")[len(y0) - 1 :]
    lo, hi = int(0.33 * rate), min(int(1.5 * rate), len(ac) - 1)
    if hi <= lo:
        return 60 / 70  # too short a window to tell: assume a resting rate for the refractory distance
    return (lo + int(np.argmax(ac[lo:hi]))) / rate


def heart_features(x: np.ndarray, rate: float, kind: str) -> dict[str, float]:
    """HR [bpm], SDNN and RMSSD [ms] from R peaks (ECG) or systolic peaks (PPG/BVP).

    Peaks are at least 0.6 beat periods apart (period from autocorrelation, so dicrotic waves are not counted);
    RR intervals outside 0.3-2 s or more than 30% from the median are rejected as artefacts before HR/HRV.
    """
    from scipy.signal import find_peaks

    y = _filter(x, rate, 5, 15) ** 2 if kind == "ecg" else _filter(x, rate, 0.5, 8)
    distance = max(1, int(0.6 * beat_period(y, rate) * rate))
    peaks, _ = find_peaks(y, distance=distance, prominence=0.3 * y.std() if y.std() > 0 else None)
    rr = np.diff(peaks) / rate
    nan = {"hr": np.nan, "sdnn": np.nan, "rmssd": np.nan}
    if len(rr) < 2:
        return nan
    median = np.median(rr)
    ok = (rr > 0.3) & (rr < 2.0) & (np.abs(rr - median) < 0.3 * median)
    if ok.sum() < 2:
        return nan
    successive = np.diff(rr)[ok[1:] & ok[:-1]]
    rmssd = 1000 * np.sqrt(np.mean(successive**2)) if len(successive) else np.nan
    return {"hr": 60.0 / rr[ok].mean(), "sdnn": 1000 * rr[ok].std(), "rmssd": rmssd}


def eda_features(x: np.ndarray, rate: float) -> dict[str, float]:
    """Skin conductance level and slope, SCR rate per minute, phasic spread."""
    from scipy.ndimage import median_filter
    from scipy.signal import find_peaks

    tonic = median_filter(x, size=max(1, int(4 * rate)), mode="nearest")
    phasic = x - tonic
    peaks, _ = find_peaks(phasic, prominence=0.01, distance=max(1, int(1.0 * rate)))
    seconds = len(x) / rate
    slope = np.polyfit(np.arange(len(x)) / rate, tonic, 1)[0] if len(x) > 1 else 0.0
    return {
        "scl": float(tonic.mean()),
        "scl_slope": float(slope),
        "scr_rate": 60.0 * len(peaks) / seconds,
        "phasic_std": float(phasic.std()),
    }


def resp_features(x: np.ndarray, rate: float) -> dict[str, float]:
    """Breathing rate [breaths/min] and amplitude."""
    from scipy.signal import find_peaks

    y = _filter(x, rate, 0.1, 1.0)
    peaks, _ = find_peaks(
        y, distance=max(1, int(1.5 * rate)), prominence=0.3 * y.std() if y.std() > 0 else None
    )
    return {"resp_rate": 60.0 * len(peaks) / (len(x) / rate), "resp_amp": float(y.std())}


def eeg_features(x: np.ndarray, rate: float) -> dict[str, float]:
    """log10 Welch band powers."""
    from scipy.signal import welch

    freqs, psd = welch(x, fs=rate, nperseg=min(len(x), int(2 * rate)))
    out = {}
    for band, (lo, hi) in EEG_BANDS.items():
        sel = (freqs >= lo) & (freqs < hi)
        power = np.trapezoid(psd[sel], freqs[sel]) if sel.sum() > 1 else np.nan
        out[f"log_{band}"] = float(np.log10(power + 1e-12))
    return out


def notch(x: np.ndarray, rate: float, hz: float | None) -> np.ndarray:
    """Remove mains interference at `hz` (50 or 60) with a zero-phase IIR notch (Q = 30); no-op when None or
    when `hz` is above Nyquist."""
    if not hz or hz >= rate / 2 or len(x) < 16:
        return x
    from scipy.signal import filtfilt, iirnotch

    b, a = iirnotch(hz, 30.0, fs=rate)
    return filtfilt(b, a, x)


def channel_features(
    kind: str, x: np.ndarray, rate: float, mains_hz: float | None = None
) -> dict[str, float]:
    """The documented features of one channel type on one window (ECG, EMG and EEG notch-filtered at `mains_hz`)."""
    if kind in ("ecg", "emg", "eeg"):
        x = notch(x, rate, mains_hz)
    if kind in ("ecg", "ppg", "bvp"):
        return heart_features(x, rate, kind)
    if kind in ("eda", "gsr"):
        return eda_features(x, rate)
    if kind == "resp":
        return resp_features(x, rate)
    if kind == "emg":
        return {"emg_rms": float(np.sqrt(np.mean(_filter(x, rate, 20, None) ** 2)))}
    if kind == "temp":
        return {"temp": float(x.mean()), "temp_slope": float(np.polyfit(np.arange(len(x)) / rate, x, 1)[0])}
    if kind == "eeg":
        return eeg_features(x, rate)
    raise MediaError(f"no feature extractor for channel type {kind!r}")


# Lowest sample rate whose Nyquist frequency is above each channel type's filter band (see the bands above).
MIN_RATE = {"ecg": 32, "ppg": 20, "bvp": 20, "eda": 4, "gsr": 4, "resp": 4, "emg": 50, "temp": 1, "eeg": 64}


def recording_with(
    ref: str | Path | SensorRecording, channels: Sequence[str]
) -> tuple[SensorRecording, float]:
    """The recording (loaded from a path if needed) after checking it has `channels`, and their common duration [s]."""
    rec = ref if isinstance(ref, SensorRecording) else load_sensor(ref)
    missing = [c for c in channels if c not in rec.signals]
    if missing:
        raise MediaError(f"{rec.path}: missing channels {missing}; has {sorted(rec.signals)}")
    for c in channels:
        need = MIN_RATE.get(rec.channel_type(c), 0)
        if rec.rates[c] < need:
            raise MediaError(
                f"{rec.path}: channel {c!r} is sampled at {rec.rates[c]:g} Hz; its features need at least {need} Hz "
                f"(check the declared rate or the time column)"
            )
    return rec, min(len(rec.signals[c]) / rec.rates[c] for c in channels)


class PhysioEncoder:
    """Per-window handcrafted physiological features for a fixed list of channels (e.g. [ecg, eda, resp])."""

    def __init__(
        self,
        modality: str = "sensor",
        channels: Sequence[str] = ("ecg", "eda"),
        window_s: float = 4.0,
        hop_s: float = 2.0,
        mains_hz: float | None = None,
    ) -> None:
        self.name, self.modality = "physio", modality
        self.channels = [c.lower() for c in channels]
        self.window_s, self.hop_s = float(window_s), float(hop_s)
        self.mains_hz = mains_hz
        self.layout = [(c, f) for c in self.channels for f in FEATURES[self._kind(c)]]
        self.dim = len(self.layout)

    @staticmethod
    def _kind(channel: str) -> str:
        kind = "eeg" if channel.startswith("eeg_") else channel.split("_")[0]
        if kind not in FEATURES:
            raise ValueError(f"unknown sensor channel {channel!r}; types: {', '.join(FEATURES)}")
        return kind

    def prepare(self, ref: str | Path | SensorRecording) -> np.ndarray:
        """Window features `[T, D]` of one recording (a path or a loaded SensorRecording)."""
        rec, seconds = recording_with(ref, self.channels)
        starts = np.arange(0, max(seconds - self.window_s, 0) + 1e-9, self.hop_s)
        frames = []
        for start in starts:
            row = {}
            for c in self.channels:
                rate = rec.rates[c]
                seg = rec.signals[c][int(start * rate) : int((start + min(self.window_s, seconds)) * rate)]
                row.update(
                    {(c, k): v for k, v in channel_features(self._kind(c), seg, rate, self.mains_hz).items()}
                )
            frames.append([(row[(c, f)] - SCALES[f][0]) / SCALES[f][1] for c, f in self.layout])
        feats = np.asarray(frames, dtype=np.float32)
        return np.nan_to_num(
            feats, nan=0.0
        )  # a window without detectable beats/breaths reads as "at reference"

    def encode(self, inputs: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
        """Pad window features: `[B, T, D]` + mask `[B, T]`."""
        return pad_frames([torch.as_tensor(x) for x in inputs], self.dim)

    def fingerprint(self) -> str:
        """Changes with the channel list, windowing, formulas' version and scaling."""
        return hash_config(
            name=self.name,
            channels=self.channels,
            window=self.window_s,
            hop=self.hop_s,
            mains=self.mains_hz,
            version=2,
            scales=SCALES,
        )


class HFTimeSeriesEncoder(PerClipEncoder, FrozenModule):
    """A pretrained time-series backbone by hub id or local path (transformers models whose forward takes
    `past_values [B, context, channels]`, e.g. PatchTST, PatchTSMixer). The configured channels are resampled to
    `rate` Hz and cut into consecutive `context_length` windows; each window's patch embeddings at `layer`, averaged
    over channels, are the frames: `[windows x patches, d_model]`."""

    def __init__(
        self,
        name_or_path: str,
        channels: Sequence[str],
        rate: float,
        modality: str = "sensor",
        layer: int = -1,
        revision: str = "",
    ) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel

        self.name, self.modality, self.source = "hf_timeseries", modality, name_or_path
        hub = pretrained_kwargs(name_or_path, revision)
        config = AutoConfig.from_pretrained(name_or_path, **hub)
        self.model = AutoModel.from_pretrained(name_or_path, **hub)
        self.channels, self.rate, self.layer = [c.lower() for c in channels], float(rate), layer
        self.context = int(config.context_length)
        if getattr(config, "num_input_channels", len(self.channels)) != len(self.channels):
            raise ValueError(
                f"{name_or_path} expects {config.num_input_channels} channels, got {self.channels}"
            )
        self.dim = int(config.d_model)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def prepare(self, ref: str | Path | SensorRecording) -> np.ndarray:
        """The configured channels resampled to `rate`: `[N, channels]` (at least one full context window)."""
        from scipy.signal import resample

        rec, seconds = recording_with(ref, self.channels)
        n = int(seconds * self.rate)
        if n < self.context:
            raise MediaError(
                f"{rec.path}: {seconds:.1f} s is shorter than one {self.context / self.rate:.1f}-s "
                f"context window of {self.source}"
            )
        cols = [resample(rec.signals[c][: int(seconds * rec.rates[c])], n) for c in self.channels]
        return np.stack(cols, axis=1).astype(np.float32)

    @torch.no_grad()
    def frames(self, values: np.ndarray) -> np.ndarray:
        """Patch features of consecutive context windows: `[T, d_model]`."""
        windows = [
            values[i : i + self.context] for i in range(0, len(values) - self.context + 1, self.context)
        ]
        out = self.model(past_values=torch.as_tensor(np.stack(windows)), output_hidden_states=True)
        hidden = out.hidden_states[self.layer]  # [W, channels, patches, d_model]
        return hidden.mean(dim=1).reshape(-1, hidden.shape[-1]).numpy()

    def fingerprint(self) -> str:
        """Weights + channels + rate + layer."""

        return hash_module(
            self.model,
            name=self.name,
            channels=self.channels,
            rate=self.rate,
            layer=self.layer,
            source=self.source,
        )
