"""A corpus of good samples and every kind of bad input a batch job meets, built in the test (no files committed).

`build(root)` writes ROOT/corpus/split.jsonl with good samples (face video, voice, ECG+EDA) and one sample (or
JSONL line) per bad-input class, and returns the expected outcome per class: a phrase the one-line reason must
contain, or "ok" for inputs that are unusual but valid (they must be processed).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from emollm.testing import write_mp4, write_sensor_csv

RATE = 64  # sensor sample rate
# class -> (modality, expected phrase in the reason, or "ok")
MEDIA_CASES = {
    "video_truncated": ("video", "cannot decode video"),
    "video_zero_byte": ("video", "file is empty"),
    "video_wrong_extension": ("video", "no video stream"),
    "video_one_frame": ("video", "ok"),
    "image_no_face": ("video", "no face found"),
    "wav_header_lies": ("audio", "WAV header declares"),
    "audio_silent": ("audio", "audio is silent"),
    "audio_8khz": ("audio", "below the encoder's minimum"),
    "audio_96khz": ("audio", "ok"),
    "video_without_audio": ("audio", "video has no audio track"),
    "sensor_nan": ("sensor", "NaN/inf values"),
    "sensor_inf": ("sensor", "NaN/inf values"),
    "sensor_constant": ("sensor", "ok"),
    "sensor_too_short": ("sensor", "shorter than"),
    "sensor_wrong_rate": ("sensor", "is sampled at 8 Hz"),
}
RECORD_CASES = {
    "malformed_json": "malformed JSON",
    "duplicated_id": "duplicate sample id",
    "unknown_label": "unknown label 'bored'",
    "non_utf8": "not valid UTF-8",
    "over_long_text": "characters > 20,000",
    "path_escapes_root": "leaves the corpus root",
    "absolute_path_outside": "leaves the corpus root",
    "not_an_object": "must be a JSON object",
    "missing_file": "audio file not found",
}


def _face_mp4(path: Path, frames: int) -> Path:
    """An mp4 of scikit-image's astronaut (a detectable face), with no audio track."""
    import av
    from skimage import data

    face = np.ascontiguousarray(data.astronaut()[::2, ::2])
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=4)
        stream.width = stream.height = 256
        stream.pix_fmt = "yuv420p"
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(face, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _voice(path: Path, rate: int = 16000, seconds: float = 1.0, amplitude: float = 0.3) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    sf.write(path, amplitude * np.sin(2 * np.pi * 180 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t)), rate)
    return path


def _sensor(path: Path, rate: float = RATE, seconds: float = 8.0, **override: np.ndarray) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    signals = {"ecg": np.sin(np.pi * 1.2 * t) ** 40, "eda": 5 + 0.2 * np.sin(0.3 * t)}
    write_sensor_csv(path, rate, {**signals, **override})
    return path


def _write_media(m: Path) -> dict[str, str]:
    """Every bad (or unusual) media file; returns class -> file name."""
    good_video = _face_mp4(m / "good.mp4", 4)
    (m / "video_truncated.mp4").write_bytes(good_video.read_bytes()[:900])
    (m / "video_zero_byte.mp4").write_bytes(b"")
    (m / "video_wrong_extension.mp4").write_bytes(_voice(m / "_tmp.wav").read_bytes())
    _face_mp4(m / "video_one_frame.mp4", 1)
    from PIL import Image

    Image.fromarray(np.full((96, 96, 3), 180, np.uint8)).save(m / "image_no_face.png")
    raw = bytearray(_voice(m / "wav_header_lies.wav").read_bytes())
    at = raw.find(b"data")
    raw[at + 4 : at + 8] = struct.pack("<I", 4 * struct.unpack("<I", raw[at + 4 : at + 8])[0])
    (m / "wav_header_lies.wav").write_bytes(bytes(raw))
    _voice(m / "audio_silent.wav", amplitude=0.0)
    _voice(m / "audio_8khz.wav", rate=8000)
    _voice(m / "audio_96khz.wav", rate=96000)
    write_mp4(m / "video_without_audio.mp4", frames=8, with_audio=False)
    n = int(RATE * 8)
    nan, inf = np.ones(n), np.ones(n)
    nan[40:45], inf[7] = np.nan, np.inf
    _sensor(m / "sensor_nan.csv", eda=nan)
    _sensor(m / "sensor_inf.csv", ecg=inf)
    _sensor(m / "sensor_constant.csv", ecg=np.full(n, 0.5), eda=np.full(n, 3.0))
    _sensor(m / "sensor_too_short.csv", seconds=0.5)
    _sensor(m / "sensor_wrong_rate.csv", rate=8)
    files = {name: f"{name}.{'png' if name == 'image_no_face' else 'csv' if name.startswith('sensor') else 'mp4' if 'video' in name else 'wav'}"
             for name in MEDIA_CASES}  # fmt: skip
    return files


def build(root: Path) -> tuple[Path, list[str], dict[str, str]]:
    """(split file, good sample ids, expected phrase or "ok" per bad-input class)."""
    corpus = root / "corpus"
    m = corpus / "media"
    m.mkdir(parents=True)
    (root / "outside.wav").write_bytes(_voice(m / "_tmp.wav").read_bytes())
    good = {"video": "media/good.mp4", "audio": "media/good.wav", "sensor": "media/good.csv"}
    _voice(m / "good.wav")
    _sensor(m / "good.csv")
    lines, good_ids = [], []
    for i in range(3):
        good_ids.append(f"good-{i}")
        lines.append(
            json.dumps({"id": f"good-{i}", "labels": {"emotion": "happy"}, "text": "good", "media": good})
        )
    for name, file in _write_media(m).items():
        modality = MEDIA_CASES[name][0]
        media = {**good, modality: f"media/{file}"}
        lines.append(json.dumps({"id": name, "labels": {"emotion": "sad"}, "text": name, "media": media}))
    rec = {"labels": {"emotion": "sad"}, "media": good}
    lines += [
        '{"id": "malformed_json", "labels": {"emotion": "sad"',
        json.dumps({**rec, "id": "good-0"}),  # duplicated id
        json.dumps({**rec, "id": "unknown_label", "labels": {"emotion": "bored"}}),
        None,  # non-UTF-8, written as bytes below
        json.dumps({**rec, "id": "over_long_text", "text": "la " * 7000}),
        json.dumps({**rec, "id": "path_escapes_root", "media": {**good, "audio": "../outside.wav"}}),
        json.dumps(
            {
                **rec,
                "id": "absolute_path_outside",
                "media": {**good, "audio": str((root / "outside.wav").resolve())},
            }
        ),
        json.dumps(["not_an_object"]),
        json.dumps({**rec, "id": "missing_file", "media": {**good, "audio": "media/nowhere.wav"}}),
    ]
    blob = b"".join(
        (
            b'{"id": "non_utf8", "text": "caf\xe9", "labels": {"emotion": "sad"}}'
            if line is None
            else line.encode()
        )
        + b"\n"
        for line in lines
    )
    (corpus / "split.jsonl").write_bytes(blob)
    expected = {name: phrase for name, (_, phrase) in MEDIA_CASES.items()} | RECORD_CASES
    return corpus / "split.jsonl", good_ids, expected
