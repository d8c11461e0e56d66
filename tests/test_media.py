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


def write_mp4(path: Path, frames: int = 20, fps: int = 10, size: int = 64, with_audio: bool = True) -> Path:
    """An H.264 mp4 whose frame i is uniformly grey level 10*i, with an optional 440 Hz AAC track."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=16000) if with_audio else None
        for i in range(frames):
            img = np.full((size, size, 3), 10 * i, dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            t = np.arange(int(16000 * frames / fps)) / 16000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
            frame.sample_rate = 16000
            for packet in audio.encode(frame):
                out.mux(packet)
            for packet in audio.encode():
                out.mux(packet)
    return path


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
        (lambda: load_audio(tmp_path / "junk.wav"), "junk.wav: cannot decode audio"),
        (lambda: load_audio(tmp_path / "missing.wav"), "missing.wav: file not found"),
    ]
    for call, message in cases:
        with pytest.raises(MediaError, match=message.replace(".", r"\.")):
            call()


def write_sensor_csv(path: Path, rate: float, columns: dict[str, np.ndarray]) -> Path:
    n = len(next(iter(columns.values())))
    t = np.arange(n) / rate
    lines = ["time," + ",".join(columns)]
    lines += [",".join([f"{t[i]:.6f}"] + [f"{columns[c][i]:.6f}" for c in columns]) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


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
