"""Default media encoders on this machine: extraction throughput, the training-step speedup from cached features, and
the bad-input report for a folder mixing good and broken files. All numbers come from one run.

    python benchmarks/encoders.py [--clips 12] [--steps 6] [--out runs/bench-encoders]

Audio clips are EmoDB wavs when $EMOLLM_DATA_DIR/emodb exists, else generated tones; video clips are mp4s made from
scikit-image's astronaut face; sensor clips are generated 10-s ECG + EDA CSVs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emollm.config import load_config  # noqa: E402
from emollm.extract import extract  # noqa: E402
from emollm.testing import (
    make_tiny_lm,  # noqa: E402
    write_sensor_csv,  # noqa: E402
)

ENCODERS = {
    "video": "{encoder: fer2013, encoder_args: {num_frames: 8}, num_tokens: 4}",
    "audio": "{encoder: whisper_ct2, encoder_args: {pool: 5}, num_tokens: 4}",
    "sensor": "{encoder: physio, encoder_args: {channels: [ecg, eda]}, projector: resampler, num_tokens: 2}",
}
EGEMAPS = "{encoder: egemaps, num_tokens: 1}"


def face_mp4(path: Path, seed: int, frames: int = 16) -> None:
    """A 2-s mp4 of the astronaut's face with a little per-frame jitter."""
    import av
    from skimage import data

    face = data.astronaut()[:, :, :3]
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=8)
        stream.width = stream.height = 256
        stream.pix_fmt = "yuv420p"
        for _ in range(frames):
            dx, dy = rng.integers(0, 16, 2)
            img = np.ascontiguousarray(face[dy : dy + 496 : 2, dx : dx + 496 : 2][:256, :256])
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def build_corpus(root: Path, n: int) -> Path:
    """n samples with video, audio and sensor files, as a split JSONL."""
    import soundfile as sf

    root.mkdir(parents=True, exist_ok=True)
    emodb = Path(os.environ.get("EMOLLM_DATA_DIR", "")) / "emodb" / "wav"
    wavs = sorted(emodb.glob("*.wav"))[:n] if emodb.is_dir() else []
    rows, rate = [], 100
    t = np.arange(10 * rate) / rate
    for i in range(n):
        face_mp4(root / f"v{i}.mp4", i)
        if wavs:
            shutil.copy(wavs[i], root / f"a{i}.wav")
        else:
            sf.write(
                root / f"a{i}.wav", 0.3 * np.sin(2 * np.pi * (120 + 10 * i) * np.arange(32000) / 16000), 16000
            )
        ecg = np.sin(np.pi * (1.0 + 0.05 * i) * t) ** 40
        write_sensor_csv(root / f"s{i}.csv", rate, {"ecg": ecg, "eda": 5 + 0.02 * i + 0.01 * t})
        label = ("neutral", "happy", "sad", "angry")[i % 4]
        rows.append(
            {
                "id": f"b{i}",
                "labels": {"emotion": label},
                "text": "benchmark clip",
                "media": {"video": f"v{i}.mp4", "audio": f"a{i}.wav", "sensor": f"s{i}.csv"},
            }
        )
    (root / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root / "train.jsonl"


def throughput(data: Path, cache: Path) -> dict[str, float]:
    """Clips per second of each default encoder, extracting into an empty cache."""
    result = {}
    for name, spec in {**ENCODERS, "audio_egemaps": EGEMAPS}.items():
        modality = name.split("_")[0]
        cfg = load_config(None, [f"modalities.{modality}={spec}"])
        summary = extract(cfg, data, cache / name)
        result[name] = summary["modalities"][modality]["clips_per_s"]
    return result


def step_times(data: Path, out: Path, lm: Path, steps: int) -> dict[str, float]:
    """Seconds per training step encoding on the fly vs reading a warm cache, same model and data."""
    from emollm.train import train

    base = [
        f"lm.name_or_path={lm}",
        f"data.train={data}",
        "train.batch_size=4",
        f"train.steps={steps}",
        "train.log_every=1000",
        *[f"modalities.{m}={s}" for m, s in ENCODERS.items()],
    ]
    cache = out / "step-cache"
    extract(load_config(None, base), data, cache)
    times = {}
    for name, extra in (("on_the_fly", []), ("cached", [f"data.cache_dir={cache}"])):
        run = out / f"run-{name}"
        shutil.rmtree(run, ignore_errors=True)
        train(load_config(None, [*base, *extra, f"train.out_dir={run}"]))
        rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
        times[name] = (rows[-1]["seconds"] - rows[0]["seconds"]) / (len(rows) - 1)
    return times


def bad_input_report(root: Path, good: Path) -> list[dict]:
    """Extract over good files plus a truncated mp4, an empty wav, an 8-kHz wav and a sensor CSV with NaNs."""
    import soundfile as sf

    root.mkdir(parents=True, exist_ok=True)
    folder = good.parent
    (root / "truncated.mp4").write_bytes((folder / "v0.mp4").read_bytes()[:2000])
    (root / "empty.wav").write_bytes(b"")
    sf.write(root / "rate8k.wav", 0.3 * np.sin(2 * np.pi * 200 * np.arange(16000) / 8000), 8000)
    nan = np.ones(1000)
    nan[100:110] = np.nan
    write_sensor_csv(root / "nan.csv", 100, {"ecg": np.sin(np.arange(1000) / 10) ** 40, "eda": nan})
    rows = [json.loads(x) for x in good.read_text().splitlines()][:2]
    for r in rows:
        r["media"] = {m: str((folder / p).resolve()) for m, p in r["media"].items()}
    rows.append({"id": "bad-video", "labels": {"emotion": "sad"}, "media": {"video": "truncated.mp4"}})
    rows.append({"id": "bad-empty", "labels": {"emotion": "sad"}, "media": {"audio": "empty.wav"}})
    rows.append({"id": "bad-rate", "labels": {"emotion": "sad"}, "media": {"audio": "rate8k.wav"}})
    rows.append({"id": "bad-nan", "labels": {"emotion": "sad"}, "media": {"sensor": "nan.csv"}})
    (root / "mixed.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = load_config(None, [f"modalities.{m}={s}" for m, s in ENCODERS.items()])
    summary = extract(cfg, root / "mixed.jsonl", root / "cache")
    report = json.loads(Path(summary["bad_report"]).read_text())
    return [
        {"sample": r["sample"], "file": Path(r["file"]).name, "reason": r["reason"].split(": ", 1)[-1]}
        for r in report
    ] + [{"kept": {m: v["computed"] for m, v in summary["modalities"].items()}}]


def main() -> None:
    """Run all three measurements and print one JSON object."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--out", default="runs/bench-encoders")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    data = build_corpus(out / "clips", args.clips)
    lm = make_tiny_lm(out / "tiny_lm", hidden=64)
    result = {"clips": args.clips, "clips_per_s": throughput(data, out / "cache")}
    times = step_times(data, out, lm, args.steps)
    result["s_per_step"] = {k: round(v, 4) for k, v in times.items()}
    result["cache_speedup"] = round(times["on_the_fly"] / times["cached"], 1)
    result["bad_input_report"] = bad_input_report(out / "bad", data)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    began = time.time()
    main()
    print(f"took {time.time() - began:.0f} s", file=sys.stderr)
