"""Projectors (shapes, mask handling) and encoders (frozen, fingerprints, safe loading, clear errors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from emollm.encoders import ENCODERS, build_encoder
from emollm.encoders.precomputed import load_feature_file
from emollm.model.projector import PROJECTORS, build_projector, pool_frames


def test_pool_frames_matches_adaptive_pool_on_contiguous_masks() -> None:
    torch.manual_seed(0)
    feats = torch.randn(3, 9, 5)
    mask = torch.zeros(3, 9, dtype=torch.bool)
    lengths = [9, 4, 2]
    for i, n in enumerate(lengths):
        mask[i, :n] = True
    pooled = pool_frames(feats, mask, 3)
    for i, n in enumerate(lengths):
        ref = torch.nn.functional.adaptive_avg_pool1d(feats[i, :n].T[None], 3)[0].T
        torch.testing.assert_close(pooled[i], ref)


def test_pool_frames_ignores_masked_frames() -> None:
    feats = torch.randn(1, 6, 4)
    mask = torch.tensor([[True, False, True, True, False, True]])
    changed = feats.clone()
    changed[0, [1, 4]] = 1e6
    torch.testing.assert_close(pool_frames(feats, mask, 2), pool_frames(changed, mask, 2))
    torch.testing.assert_close(pool_frames(feats, mask, 2)[0, 0], feats[0, [0, 2]].mean(0))


@pytest.mark.parametrize("name", sorted(PROJECTORS))
def test_projector_shapes_and_padding_invariance(name: str) -> None:
    torch.manual_seed(0)
    proj = build_projector(name, in_dim=12, out_dim=16, num_tokens=3).eval()
    feats = torch.randn(2, 7, 12)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 4:] = False
    out = proj(feats, mask)
    assert out.shape == (2, 3, 16)
    padded = feats.clone()
    padded[1, 4:] = 99.0
    torch.testing.assert_close(proj(padded, mask), out)
    with pytest.raises(ValueError, match="no valid frames"):
        proj(feats, torch.zeros(2, 7, dtype=torch.bool))


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
    with pytest.raises(KeyError, match="no tensor named 'c'"):
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
