"""Signal perturbations used by `emollm robustness`: each does what its name says, measurably."""

from __future__ import annotations

import numpy as np

from emollm.data.media import load_sensor, load_video
from emollm.experiments import perturb


def test_noise_hits_the_requested_snr_and_delay_shifts() -> None:
    rng = np.random.default_rng(0)
    x = (0.3 * np.sin(np.arange(64000) / 7)).astype(np.float32)
    for snr in (20, 5, 0):
        noise = perturb.add_noise_snr(x, snr, rng) - x
        measured = 10 * np.log10(np.mean(x**2) / np.mean(noise**2))
        assert abs(measured - snr) < 0.3
    shifted = perturb.delay(np.arange(10.0), 0.3, 10)
    assert shifted.tolist() == [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]


def test_video_perturbations() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(8, 32, 32, 3), dtype=np.uint8)
    blurred = perturb.blur(frames, 2)
    assert blurred.shape == frames.shape and blurred.std() < frames.std() * 0.5
    occluded = perturb.occlude(frames, 0.25, rng)
    black = (occluded == 0).all(axis=-1).mean(axis=(1, 2))
    assert np.allclose(black, black[0]) and 0.24 <= black[0] <= 0.27
    dropped = perturb.drop_frames(np.arange(1000)[:, None, None, None], 0.5, rng)[:, 0, 0, 0]
    assert (np.diff(dropped) >= 0).all() and 0.4 < 1 - len(np.unique(dropped)) / 1000 < 0.6


def test_sensor_perturbations() -> None:
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(2000) / 20)
    assert np.ptp(perturb.flatline(x)) == 0
    y = perturb.spikes(x, 2.0, 100, rng)
    assert (np.abs(y - x) > 4 * x.std()).sum() >= 5 and abs(
        np.median(y[-100:] - x[-100:]) - 2 * x.std()
    ) < 1e-9


def test_writers_round_trip(tmp_path) -> None:
    frames = np.full((6, 32, 32, 3), 128, np.uint8)
    video = load_video(perturb.write_video(tmp_path / "v.mp4", frames, 6), num_frames=None, max_frames=100)
    assert video.frames.shape == (6, 32, 32, 3) and abs(int(video.frames.mean()) - 128) <= 3
    path = perturb.write_sensor(
        tmp_path / "s.npy", {"ecg": np.zeros(300), "eda": np.ones(300)}, {"ecg": 100.0, "eda": 100.0}
    )
    rec = load_sensor(path)
    assert set(rec.signals) == {"ecg", "eda"} and rec.rates["eda"] == 100.0
