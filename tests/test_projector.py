"""Projectors: mask-aware pooling, shapes and padding invariance."""

from __future__ import annotations

import pytest
import torch

from emollm.model.projector import PROJECTORS, build_projector, drop_frames, pool_frames


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


def test_drop_frames_hides_only_valid_frames_and_never_a_whole_clip() -> None:
    torch.manual_seed(0)
    mask = torch.ones(200, 10, dtype=torch.bool)
    mask[:, 6:] = False
    kept = drop_frames(mask, 0.5)
    assert not (kept & ~mask).any()
    assert kept.any(dim=1).all()
    assert 0.4 < kept.sum().item() / mask.sum().item() < 0.6
    assert torch.equal(drop_frames(mask, 0.999999), mask)  # every frame would go: the clip keeps them all


def test_augmentation_acts_only_while_training() -> None:
    torch.manual_seed(0)
    proj = build_projector("mlp2x_gelu", 12, 16, 1, frame_dropout=0.5, input_dropout=0.3)
    feats, mask = torch.randn(4, 9, 12), torch.ones(4, 9, dtype=torch.bool)
    proj.train()
    assert not torch.allclose(proj(feats, mask), proj(feats, mask))
    proj.eval()
    torch.testing.assert_close(proj(feats, mask), proj(feats, mask))
    plain = build_projector("mlp2x_gelu", 12, 16, 1)
    plain.load_state_dict(proj.state_dict())  # augmentation adds no weights: checkpoints stay compatible
    torch.testing.assert_close(plain.eval()(feats, mask), proj(feats, mask))
