"""Media decoding and validation: generated mp4/wav/CSV fixtures, and a clear error for each kind of bad file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emollm.data.media import (
    MediaError,
    load_audio,
    load_sensor,
    load_video,
    load_video_audio,
    sample_indices,
)
from emollm.testing import write_mp4, write_sensor_csv


def test_video_uniform_and_fps_sampling(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "clip.mp4")
    video = load_video(path, num_frames=5)
    assert video.frames.shape == (5, 64, 64, 3) and video.frames.dtype == np.uint8
    assert video.fps == pytest.approx(10)
    np.testing.assert_allclose(video.times, [0, 0.5, 1.0, 1.4, 1.9], atol=0.051)
    levels = video.frames.reshape(5, -1).mean(1)
    assert np.all(np.diff(levels) > 0)  # frames come back in time order
    assert len(load_video(path, num_frames=None, sample_fps=2).frames) == 4
    assert len(load_video(path, num_frames=None, max_frames=6).frames) == 6


def test_sample_indices_edge_cases() -> None:
    assert sample_indices(0, 25, 8, None, 32).size == 0
    assert sample_indices(3, 25, 8, None, 32).tolist() == [0, 1, 2]


def test_audio_track_of_video_and_audio_files(tmp_path: Path) -> None:
    audio = load_video_audio(write_mp4(tmp_path / "a.mp4"), rate=16000)
    assert (
        audio is not None and audio.rate == 16000 and audio.seconds == pytest.approx(2.0, abs=0.15)
    )  # AAC padding
    assert load_video_audio(write_mp4(tmp_path / "mute.mp4", with_audio=False)) is None
    t = np.arange(44100) / 44100
    sf.write(tmp_path / "s.wav", np.stack([np.sin(2 * np.pi * 220 * t), np.zeros_like(t)], 1) * 0.5, 44100)
    wav = load_audio(tmp_path / "s.wav", rate=16000)
    assert (
        wav.rate == 16000
        and len(wav.samples) == 16000
        and abs(wav.samples).max() == pytest.approx(0.25, abs=0.02)
    )
    spectrum = np.abs(np.fft.rfft(wav.samples))
    assert np.argmax(spectrum) == pytest.approx(220, abs=2)  # 1-s signal: bin index = Hz


def test_bad_media_errors_name_the_file_and_problem(tmp_path: Path) -> None:
    good = write_mp4(tmp_path / "good.mp4")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[:300])
    (tmp_path / "empty.wav").write_bytes(b"")
    sf.write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    sf.write(tmp_path / "short.wav", np.ones(100, np.float32) * 0.1, 16000)
    sf.write(tmp_path / "rate.wav", np.ones(16000, np.float32) * 0.1, 8000)
    (tmp_path / "junk.wav").write_bytes(b"RIFF1234not really a wave file")
    cases = [
        (lambda: load_video(truncated), "truncated.mp4: "),
        (lambda: load_audio(tmp_path / "empty.wav"), "empty.wav: file is empty"),
        (lambda: load_audio(tmp_path / "silent.wav"), "silent.wav: audio is silent"),
        (lambda: load_audio(tmp_path / "short.wav"), "short.wav: audio is 0.006 s, shorter than 0.1 s"),
        (
            lambda: load_audio(tmp_path / "rate.wav", expect_rate=16000),
            "rate.wav: sample rate 8000 Hz, expected",
        ),
        (lambda: load_audio(tmp_path / "rate.wav", min_rate=16000), "rate.wav: sample rate 8000 Hz is below"),
        (lambda: load_audio(tmp_path / "junk.wav"), "junk.wav: cannot decode audio"),
        (lambda: load_audio(tmp_path / "missing.wav"), "missing.wav: file not found"),
    ]
    for call, message in cases:
        with pytest.raises(MediaError, match=message.replace(".", r"\.")):
            call()


def test_sensor_csv_npy_and_errors(tmp_path: Path) -> None:
    rec = load_sensor(write_sensor_csv(tmp_path / "r.csv", 50, {"eda": np.ones(200), "ecg": np.zeros(200)}))
    assert (
        rec.rates == {"eda": pytest.approx(50), "ecg": pytest.approx(50)} and len(rec.signals["eda"]) == 200
    )
    np.save(tmp_path / "e.npy", np.zeros((2, 512)))
    (tmp_path / "e.json").write_text(json.dumps({"channels": ["EEG_Fz", "eeg_Cz"], "rate": 128}))
    rec = load_sensor(tmp_path / "e.npy")
    assert set(rec.signals) == {"eeg_fz", "eeg_cz"} and rec.rates["eeg_fz"] == 128
    nan = np.ones(200)
    nan[5] = np.nan
    write_sensor_csv(tmp_path / "nan.csv", 50, {"eda": nan})
    write_sensor_csv(tmp_path / "odd.csv", 50, {"heartbeat": np.ones(200)})
    write_sensor_csv(tmp_path / "short.csv", 50, {"eda": np.ones(20)})
    (tmp_path / "notime.csv").write_text("eda,ecg\n1,2\n3,4\n")
    (tmp_path / "irregular.csv").write_text("time,eda\n0,1\n0.1,1\n0.5,1\n0.6,1\n")
    np.save(tmp_path / "nometa.npy", np.zeros((2, 10)))
    cases = [
        ("nan.csv", "channel 'eda' has 1 NaN/inf values"),
        ("odd.csv", "unknown channel 'heartbeat'"),
        ("short.csv", "channel 'eda' lasts 0.40 s, shorter than 1.0 s"),
        ("notime.csv", "needs a header with a 'time' column"),
        ("irregular.csv", "'time' is irregular"),
        ("nometa.npy", "needs nometa.json"),
    ]
    for name, message in cases:
        with pytest.raises(MediaError, match=f"{name}.*{message}".replace("(", r"\(").replace(")", r"\)")):
            load_sensor(tmp_path / name)


def test_sensor_edf(tmp_path: Path) -> None:
    pyedflib = pytest.importorskip("pyedflib")
    writer = pyedflib.EdfWriter(str(tmp_path / "r.edf"), 3, file_type=pyedflib.FILETYPE_EDFPLUS)
    header = dict(dimension="uV", physical_min=-500, physical_max=500, digital_min=-32768, digital_max=32767)
    writer.setSignalHeaders(
        [
            {**header, "label": "ECG", "sample_frequency": 256},
            {**header, "label": "EEG Fz", "sample_frequency": 128},
            {**header, "label": "EDA", "sample_frequency": 32},
        ]
    )
    writer.writeSamples([np.sin(np.arange(2560) / 20) * 100, np.zeros(1280), np.full(320, 5.0)])
    writer.close()
    rec = load_sensor(tmp_path / "r.edf")
    assert rec.rates == {"ecg": 256, "eeg_fz": 128, "eda": 32}
    assert len(rec.signals["ecg"]) == 2560 and rec.signals["eda"].mean() == pytest.approx(5.0, abs=0.05)
    (tmp_path / "junk.edf").write_bytes(b"0       not an edf header" * 20)
    with pytest.raises(MediaError, match="junk.edf: cannot read EDF"):
        load_sensor(tmp_path / "junk.edf")
