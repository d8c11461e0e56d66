"""End to end on raw media: train on mp4/wav/CSV through real encoders, chat on raw files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emollm.cli import main
from emollm.testing import make_tiny_wav2vec2, write_mp4, write_sensor_csv


@pytest.fixture(scope="module")
def raw_corpus(tmp_path_factory) -> Path:
    """8 samples: a grey-level mp4 (brightness ~ label), a tone wav (pitch ~ label), a 10-s ECG/EDA CSV."""
    root = tmp_path_factory.mktemp("raw")
    labels = ["happy", "sad", "angry", "neutral"] * 2
    rows = []
    rate = 50
    t = np.arange(10 * rate) / rate
    for i, label in enumerate(labels):
        write_mp4(root / f"c{i}.mp4", frames=6, fps=6, with_audio=False)
        sf.write(
            root / f"a{i}.wav", 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * np.arange(8000) / 16000), 16000
        )
        write_sensor_csv(
            root / f"s{i}.csv",
            rate,
            {"ecg": np.sin(2 * np.pi * (1 + 0.1 * i) * t) ** 20, "eda": 5 + 0.05 * i + 0.01 * t},
        )
        rows.append(
            {
                "id": f"r{i}",
                "labels": {"emotion": label},
                "text": "hello there",
                "media": {"video": f"c{i}.mp4", "audio": f"a{i}.wav", "sensor": f"s{i}.csv"},
            }
        )
    (root / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def test_train_on_raw_media_and_chat_on_raw_files(tiny_lm, tiny_vision, raw_corpus, tmp_path, capsys) -> None:
    w2v = make_tiny_wav2vec2(tmp_path / "w2v", layers=1)
    run = tmp_path / "run"
    overrides = [
        f"lm.name_or_path={tiny_lm}",
        f"data.train={raw_corpus / 'train.jsonl'}",
        f"train.out_dir={run}",
        "train.steps=2",
        "train.batch_size=4",
        f"data.cache_dir={tmp_path / 'cache'}",
        f"modalities.video={{encoder: hf_vision, encoder_args: {{name_or_path: {tiny_vision['vit']}, num_frames: 4}}, "
        "num_tokens: 2}",
        f"modalities.audio={{encoder: hf_audio, encoder_args: {{name_or_path: {w2v}, pool: 10}}, num_tokens: 2}}",
        "modalities.sensor={encoder: physio, encoder_args: {channels: [ecg, eda]}, projector: resampler, num_tokens: 2}",
    ]
    assert main(["extract", "--data", str(raw_corpus / "train.jsonl"), *overrides]) == 0
    extracted = json.loads(capsys.readouterr().out)
    counts = {m: (v["computed"], v["cache_hits"]) for m, v in extracted["modalities"].items()}
    assert extracted["bad"] == 0 and counts == {
        "video": (1, 7),
        "audio": (8, 0),
        "sensor": (8, 0),
    }  # identical mp4s
    # share one entry: the cache is keyed by content
    assert main(["train", *overrides]) == 0
    capsys.readouterr()
    argv = [
        "chat",
        "--ckpt",
        str(run / "final"),
        "--json",
        "--text",
        "hi",
        "--video",
        str(raw_corpus / "c0.mp4"),
        "--audio",
        str(raw_corpus / "a0.wav"),
        "--sensor",
        str(raw_corpus / "s0.csv"),
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["modalities"] == ["video", "audio", "sensor", "text"] and set(out["scores"]) == {
        "neutral",
        "happy",
        "sad",
        "angry",
    }
    bad = tmp_path / "bad.wav"
    sf.write(bad, np.zeros(8000, np.float32), 16000)
    assert main(["chat", "--ckpt", str(run / "final"), "--json", "--audio", str(bad)]) == 2
    assert "bad.wav: audio is silent" in capsys.readouterr().err


def test_video_audio_track_feeds_the_audio_encoder(raw_corpus, tmp_path) -> None:
    from types import SimpleNamespace

    from emollm.generate import input_sample
    from emollm.testing import write_mp4

    model = SimpleNamespace(
        encoders={"video": None, "audio": None},
        config=SimpleNamespace(data=SimpleNamespace(asr="")),
        template=SimpleNamespace(measured=False),
    )
    with_track = write_mp4(tmp_path / "talk.mp4", frames=8, fps=8)
    sample, info = input_sample(model, None, {"video": str(with_track)})
    assert sample.media["audio"] == str(with_track) and info["audio_source"] == "video track"
    assert info["modalities"] == ["video", "audio"]
    mute = write_mp4(tmp_path / "mute.mp4", frames=8, fps=8, with_audio=False)
    sample, info = input_sample(model, None, {"video": str(mute)})
    assert "audio" not in sample.media and "audio_source" not in info
    sample, _ = input_sample(
        SimpleNamespace(encoders={"video": None}, config=model.config, template=model.template),
        None,
        {"video": str(with_track)},
    )
    assert "audio" not in sample.media  # a model without an audio encoder ignores the track
