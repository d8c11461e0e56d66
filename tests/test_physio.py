"""Physiological feature encoder on signals with known answers (synthetic ECG at 72 bpm, EDA with 3 SCRs, breathing
at 15/min, EEG alpha) and on the real PPG recording that heartpy ships."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from emollm.data.media import SensorRecording
from emollm.encoders import build_encoder
from emollm.encoders.physio import SCALES, channel_features


def synthetic_ecg(bpm: float, seconds: float, rate: float, seed: int = 0) -> np.ndarray:
    """Gaussian-shaped QRS spikes at a fixed rate plus small P/T waves and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = np.zeros_like(t)
    for beat in np.arange(0.3, seconds, 60 / bpm):
        x += 1.0 * np.exp(-((t - beat) ** 2) / (2 * 0.01**2))
        x += 0.15 * np.exp(-((t - beat - 0.25) ** 2) / (2 * 0.04**2))
    return x + rng.normal(0, 0.02, len(t))


def test_ecg_72_bpm() -> None:
    f = channel_features("ecg", synthetic_ecg(72, 20, 250), 250)
    assert f["hr"] == pytest.approx(72, abs=0.5)
    assert f["sdnn"] < 5 and f["rmssd"] < 5  # perfectly regular rhythm


def test_eda_counts_scrs_and_resp_rate() -> None:
    rate = 32
    t = np.arange(30 * rate) / rate
    eda = 4 + 0.01 * t
    for onset in (5, 13, 22):
        rise = np.clip(t - onset, 0, None)
        eda = eda + 0.3 * (1 - np.exp(-rise / 0.7)) * np.exp(-rise / 4)
    f = channel_features("eda", eda, rate)
    assert f["scr_rate"] == pytest.approx(3 * 60 / 30)
    assert f["scl"] == pytest.approx(4.15, abs=0.2) and f["scl_slope"] > 0
    resp = channel_features("resp", np.sin(2 * np.pi * 0.25 * t), rate)
    assert resp["resp_rate"] == pytest.approx(15, abs=1)


def test_eeg_alpha_dominates() -> None:
    rate = 128
    t = np.arange(8 * rate) / rate
    x = 5 * np.sin(2 * np.pi * 10 * t) + np.random.default_rng(0).normal(0, 0.5, len(t))
    f = channel_features("eeg", x, rate)
    assert f["log_alpha"] > max(f["log_delta"], f["log_theta"], f["log_beta"], f["log_gamma"]) + 1


def test_encoder_windows_layout_and_fingerprint() -> None:
    rate = 250
    rec = SensorRecording(
        {"ecg": synthetic_ecg(60, 12, rate), "eda": np.full(12 * rate, 6.0)},
        {"ecg": rate, "eda": rate},
        "mem",
    )
    enc = build_encoder("physio", "sensor", channels=["ecg", "eda"], window_s=4, hop_s=2)
    feats = enc.prepare(rec)
    assert enc.dim == 7 and feats.shape == (5, 7)  # windows at 0, 2, 4, 6, 8 s
    hr = feats[:, 0] * SCALES["hr"][1] + SCALES["hr"][0]
    np.testing.assert_allclose(hr, 60, atol=1)
    batch, mask = enc.encode([feats, feats[:2]])
    assert batch.shape == (2, 5, 7) and mask[1].tolist() == [True, True, False, False, False]
    assert (
        enc.fingerprint()
        != build_encoder("physio", "sensor", channels=["ecg", "eda"], window_s=5).fingerprint()
    )
    with pytest.raises(ValueError, match="missing channels \\['resp'\\]"):
        build_encoder("physio", "sensor", channels=["ecg", "resp"]).prepare(rec)


@pytest.mark.integration
@pytest.mark.skipif(
    importlib.util.find_spec("heartpy") is None, reason="heartpy (real PPG samples) not installed"
)
def test_real_ppg_from_heartpy_is_plausible_and_self_consistent() -> None:
    from emollm.encoders.physio import beat_period

    folder = Path(list(importlib.util.find_spec("heartpy").submodule_search_locations)[0]) / "data"
    clean = np.loadtxt(folder / "data.csv")  # heartpy's first example: 100 Hz, ~25 s
    f = channel_features("ppg", clean, 100.0)
    assert 50 < f["hr"] < 70 and f["sdnn"] < 150, f
    assert f["hr"] == pytest.approx(60 / beat_period(clean - clean.mean(), 100.0), rel=0.05)
    table = np.loadtxt(folder / "data2.csv", delimiter=",", skiprows=1)  # timer (ms), signal; noisy in places
    rate = 1000.0 / np.diff(table[:, 0]).mean()
    second_minute = table[int(60 * rate) : int(120 * rate), 1]
    g = channel_features("ppg", second_minute, rate)
    assert 50 < g["hr"] < 75 and g["sdnn"] < 150, g


def test_pretrained_timeseries_backbone_by_path(tmp_path) -> None:
    from transformers import PatchTSTConfig, PatchTSTModel

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    config = PatchTSTConfig(
        num_input_channels=2,
        context_length=64,
        patch_length=16,
        patch_stride=16,
        d_model=16,
        num_attention_heads=2,
        num_hidden_layers=1,
        ffn_dim=32,
    )
    PatchTSTModel(config).save_pretrained(tmp_path / "patchtst")
    rate = 32
    rec = SensorRecording(
        {"ecg": synthetic_ecg(70, 10, 250), "eda": np.full(10 * 64, 5.0)}, {"ecg": 250, "eda": 64}, "mem"
    )
    enc = build_encoder(
        "hf_timeseries", "sensor", name_or_path=str(tmp_path / "patchtst"), channels=["ecg", "eda"], rate=rate
    )
    assert all(not p.requires_grad for p in enc.parameters())
    values = enc.prepare(rec)
    assert values.shape == (320, 2)  # 10 s at 32 Hz
    feats, mask = enc.encode([values])
    assert feats.shape == (1, 5 * 4, 16) and mask.all()  # 5 windows of 64 samples x 4 patches
    short = SensorRecording({"ecg": np.zeros(250), "eda": np.zeros(64)}, {"ecg": 250, "eda": 64}, "short.csv")
    with pytest.raises(ValueError, match="short.csv: 1.0 s is shorter than one 2.0-s context window"):
        enc.prepare(short)


def test_mains_notch_removes_line_noise_from_emg() -> None:
    rate = 1000
    rng = np.random.default_rng(0)
    t = np.arange(4 * rate) / rate
    muscle = rng.normal(0, 0.1, len(t))
    hum = 0.5 * np.sin(2 * np.pi * 50 * t)
    clean = channel_features("emg", muscle, rate)["emg_rms"]
    raw = channel_features("emg", muscle + hum, rate)["emg_rms"]
    fixed = channel_features("emg", muscle + hum, rate, mains_hz=50)["emg_rms"]
    assert raw > 3 * clean  # the hum dominates the RMS without the notch
    assert fixed == pytest.approx(clean, rel=0.05)
